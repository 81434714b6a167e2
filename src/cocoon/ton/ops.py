"""Opcodes, exit codes and money constants of the COCOON contracts (spec/contracts.md).

Every value here is fixed by the spec: keep them in sync with ``contracts/*.fc``.
"""

from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation

TON = 1_000_000_000
"""One TON in nanoTON."""

COMMISSION_ESTIMATE = TON // 10
"""Minimum value a paid operation must carry (0.1 TON)."""
FLOOR_ROOT_PROXY = TON // 100
FLOOR_CLIENT_WORKER = 11 * TON // 100
WALLET_MIN_BALANCE = 2 * TON
DEPLOY_VALUE = 3 * TON // 10
CLIENT_DEPLOY_VALUE = 8 * TON // 10


def format_ton(nano: int) -> str:
    """``1500000000`` -> ``"1.5"`` (exact; for display only, money stays int nanoTON)."""
    sign = "-" if nano < 0 else ""
    whole, frac = divmod(abs(nano), TON)
    return f"{sign}{whole}.{frac:09d}".rstrip("0").rstrip(".")


def parse_ton(text: str) -> int:
    """``"1.5"`` -> ``1500000000`` nanoTON, exactly (at most 9 decimals)."""
    try:
        value = Decimal(text) * TON
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount of TON") from exc
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} has more than 9 decimals (1 nanoTON is the smallest unit)")
    return int(value)


class Op(enum.IntEnum):
    """32-bit opcodes of message bodies."""

    # common
    EXCESSES = 0x2565934C
    PAYOUT = 0xC59A7CD3
    DO_NOT_PROCESS = 0x9A1247C0
    SAVE_STATE = 0x53109C0F
    # root (owner only)
    ADD_WORKER_TYPE = 0xE34B1C60
    DEL_WORKER_TYPE = 0x8D94A79A
    ADD_MODEL_TYPE = 0xC146134D
    DEL_MODEL_TYPE = 0x92B11C18
    ADD_PROXY_TYPE = 0x71860E80
    DEL_PROXY_TYPE = 0x3C41D0B2
    REGISTER_PROXY = 0x927C7CB5
    UNREGISTER_PROXY = 0x6D49EAF2
    UPDATE_PROXY = 0x9C7924BA
    CHANGE_FEES = 0xC52ED8D4
    CHANGE_PARAMS = 0x022FA189
    UPGRADE_CONTRACTS = 0xA2370F61
    UPGRADE = 0x11AEFD51
    RESET = 0x563C1D96
    CHANGE_OWNER = 0xC4A1AE54
    # proxy
    WORKER_PROXY_REQUEST = 0x4D725D2C
    WORKER_PROXY_PAYOUT_REQUEST = 0x08E7D036
    CLIENT_PROXY_REQUEST = 0x65448FF4
    CLIENT_PROXY_TOP_UP = 0x5CFC6B87
    CLIENT_PROXY_REGISTER = 0xA35CB580
    CLIENT_PROXY_REFUND_GRANTED = 0xC68EBC7B
    CLIENT_PROXY_REFUND_FORCE = 0xF4C354C9
    EXT_PROXY_PAYOUT_REQUEST = 0x7610E6EB
    EXT_PROXY_INCREASE_STAKE = 0x9713F187
    OWNER_PROXY_CLOSE = 0xB51D5A01
    EXT_PROXY_CLOSE_REQUEST_SIGNED = 0x636A4391
    EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED = 0xE511ABC7
    # worker
    EXT_WORKER_PAYOUT_REQUEST_SIGNED = 0xA040AD28
    EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED = 0xF5F26A36
    OWNER_WORKER_REGISTER = 0x26ED7F65
    # client
    EXT_CLIENT_TOP_UP = 0xF172E6C2
    OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP = 0x8473B408
    OWNER_CLIENT_REGISTER = 0xC45F9F3B
    OWNER_CLIENT_CHANGE_SECRET_HASH = 0xA9357034
    OWNER_CLIENT_INCREASE_STAKE = 0x6A1F6A60
    OWNER_CLIENT_WITHDRAW = 0xDA068E78
    OWNER_CLIENT_REQUEST_REFUND = 0xFAFA6CC1
    EXT_CLIENT_CHARGE_SIGNED = 0xBB63FF93
    EXT_CLIENT_GRANT_REFUND_SIGNED = 0xEFD711E1
    # node wallet
    OWNER_WALLET_SEND_MESSAGE = 0x9C69F376


class ExitCode(enum.IntEnum):
    """Exit codes thrown by the contracts."""

    OLD_MESSAGE = 1000
    LOW_SMC_BALANCE = 1001
    LOW_BALANCE = 1002
    LOW_MSG_VALUE = 1003
    MSG_FORMAT_MISMATCH = 1004
    SIGNED_MSG_FORMAT_MISMATCH = 1005
    CLOSED = 1006
    BAD_SIGNATURE = 1007
    STORED_DATA_DAMAGED = 1008
    EXPECTED_OWNER = 1009
    EXPECTED_MESSAGE_FROM_OWNER = 1010
    NOT_UNLOCKED_YET = 1011
    UNKNOWN_OP = 1012
    UNKNOWN_TEXT_OP = 1013
    CONTRACT_ADDRESS_MISMATCH = 1014
    EXPECTED_MY_ADDRESS = 1015
    UNKNOWN_PROXY_TYPE = 2000
    WALLET_EXPIRED = 1030
    WALLET_BLOCKED = 1031
    WALLET_SEQNO = 1032
    WALLET_SUBWALLET = 1033
    WALLET_BAD_SIGNATURE = 1034
    WALLET_LOW_BALANCE = 1035
    WALLET_NOT_OWNER = 1040
    WALLET_BAD_TEXT_COMMAND = 1041


class ContractState(enum.IntEnum):
    """``state`` field of proxy/worker/client contracts (worker uses NORMAL and CLOSED only)."""

    NORMAL = 0
    CLOSING = 1
    CLOSED = 2


class SendMode(enum.IntFlag):
    """Modes of ``send_raw_message`` used by our senders."""

    ORDINARY = 0
    PAY_FEES_SEPARATELY = 1
    IGNORE_ERRORS = 2
    CARRY_REMAINING_VALUE = 64
    CARRY_ALL_BALANCE = 128
