"""Opcodes and message values of the reference COCOON contracts (the public network's).

The values are the reference runners' (``runners/smartcontracts/Opcodes.hpp`` at the April 2026
release): where our own contracts use the same operation, the numbers are equal (a test checks it),
but this module stays fixed to the public network whatever our contracts become.
"""

from __future__ import annotations

import enum

from cocoon.ton.ops import TON


class RefOp(enum.IntEnum):
    """32-bit opcodes of the reference contracts' message bodies."""

    EXCESSES = 0x2565934C
    PAYOUT = 0xC59A7CD3
    DO_NOT_PROCESS = 0x9A1247C0
    # root (owner, or signed by a key manager)
    ROOT_ADD_WORKER_TYPE = 0xE34B1C60
    ROOT_DEL_WORKER_TYPE = 0x8D94A79A
    ROOT_ADD_PROXY_TYPE = 0x71860E80
    ROOT_DEL_PROXY_TYPE = 0x3C41D0B2
    ROOT_REGISTER_PROXY = 0x927C7CB5
    ROOT_UNREGISTER_PROXY = 0x6D49EAF2
    ROOT_UPDATE_PROXY = 0x9C7924BA
    ROOT_CHANGE_PRICE = 0xC52ED8D4
    ROOT_UPGRADE_CONTRACTS = 0xA2370F61
    ROOT_UPGRADE = 0x11AEFD51
    ROOT_RESET = 0x563C1D96
    ROOT_UPGRADE_FULL = 0x4F7C5789
    ROOT_CHANGE_KEY_MANAGER = 0xB01C0FE9
    ROOT_ADD_PUBLIC_KEY_SIGNED = 0x9E0E1821
    ROOT_ADD_PUBLIC_KEY = 0x6E5A646A
    # worker <-> proxy
    WORKER_PROXY_REQUEST = 0x4D725D2C
    WORKER_PROXY_PAYOUT_REQUEST = 0x08E7D036
    # client contract -> proxy contract
    CLIENT_PROXY_REQUEST = 0x65448FF4
    CLIENT_PROXY_TOP_UP = 0x5CFC6B87
    CLIENT_PROXY_REGISTER = 0xA35CB580
    CLIENT_PROXY_REFUND_GRANTED = 0xC68EBC7B
    CLIENT_PROXY_REFUND_FORCE = 0xF4C354C9
    # proxy contract
    EXT_PROXY_INCREASE_STAKE = 0x9713F187
    EXT_PROXY_PAYOUT_REQUEST = 0x7610E6EB
    OWNER_PROXY_CLOSE = 0xB51D5A01
    EXT_PROXY_CLOSE_REQUEST_SIGNED = 0x636A4391
    EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED = 0xE511ABC7
    PROXY_SAVE_STATE = 0x53109C0F
    # worker contract
    EXT_WORKER_PAYOUT_REQUEST_SIGNED = 0xA040AD28
    EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED = 0xF5F26A36
    OWNER_WORKER_REGISTER = 0x26ED7F65
    # client contract
    EXT_CLIENT_TOP_UP = 0xF172E6C2
    EXT_CLIENT_CHARGE_SIGNED = 0xBB63FF93
    EXT_CLIENT_GRANT_REFUND_SIGNED = 0xEFD711E1
    OWNER_CLIENT_TOP_UP_REOPEN = 0x29111CEB
    OWNER_CLIENT_REGISTER = 0xC45F9F3B
    OWNER_CLIENT_CHANGE_SECRET_HASH = 0xA9357034
    OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP = 0x8473B408
    OWNER_CLIENT_REQUEST_REFUND = 0xFAFA6CC1
    OWNER_CLIENT_INCREASE_STAKE = 0x6A1F6A60
    OWNER_CLIENT_WITHDRAW = 0xDA068E78
    # node wallet
    OWNER_WALLET_SEND_MESSAGE = 0x9C69F376


# What the reference client runner attaches to its messages to the client contract (nanoTON).
# Excesses come back to the ``excess_to`` address of each message.
REGISTER_VALUE = TON
"""``owner_client_register`` (long auth), sent with the contract's state-init when not deployed."""
REQUEST_VALUE = 7 * TON // 10
"""Change secret hash, request refund, withdraw, self-submitted charge: 0.7 TON each."""
TOP_UP_FEE = 7 * TON // 10
"""A top-up carries ``amount + TOP_UP_FEE``."""
CLIENT_DEPLOY_BALANCE = 8 * TON // 10
"""The reference's deploy balance for a client contract."""
