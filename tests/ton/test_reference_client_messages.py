"""Owner messages to the reference client contract: exact bits, recorded mainnet bodies, round trips."""

from __future__ import annotations

import pytest
from reference_vectors import CLIENT_CONTRACT, CLIENT_OWNER, dest_of, wallet_message

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import begin_cell, cell_hash, store_address
from cocoon.ton.ops import TON, Op
from cocoon.ton.reference import opcodes
from cocoon.ton.reference.client_messages import (
    CLIENT_MESSAGE_TYPES,
    RefExtClientTopUp,
    RefOwnerClientChangeSecretHash,
    RefOwnerClientChangeSecretHashAndTopUp,
    RefOwnerClientIncreaseStake,
    RefOwnerClientRegister,
    RefOwnerClientRequestRefund,
    RefOwnerClientTopUpReopen,
    RefOwnerClientWithdraw,
    parse_client_message,
    secret_hash,
    top_up_amount,
)
from cocoon.ton.reference.opcodes import RefOp

WALLET = Address(0, b"\x44" * 32)
HASH = bytes(range(32))
MESSAGES = [
    RefOwnerClientRegister(2**64 - 1, 12345, WALLET),
    RefExtClientTopUp(1, 15 * TON, WALLET),
    RefOwnerClientTopUpReopen(2, 3 * TON, WALLET),
    RefOwnerClientChangeSecretHash(3, HASH, WALLET),
    RefOwnerClientChangeSecretHashAndTopUp(4, 5 * TON, HASH, WALLET),
    RefOwnerClientIncreaseStake(5, 20 * TON, WALLET),
    RefOwnerClientWithdraw(6, WALLET),
    RefOwnerClientRequestRefund(7, None),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg: object) -> None:
    body = msg.to_cell()  # type: ignore[attr-defined]
    assert parse_client_message(body) == msg


def test_register_is_op_query_nonce_address() -> None:
    """``owner_client_register#c45f9f3b query_id:uint64 nonce:uint64 send_excesses_to:MsgAddress``."""
    b = begin_cell().store_uint(0xC45F9F3B, 32).store_uint(9, 64).store_uint(2**63 + 5, 64)
    expected = store_address(b, WALLET).end_cell()
    assert cell_hash(RefOwnerClientRegister(9, 2**63 + 5, WALLET).to_cell()) == cell_hash(expected)


def test_secret_and_top_up_is_op_query_amount_hash_address() -> None:
    b = begin_cell().store_uint(0x8473B408, 32).store_uint(4, 64).store_coins(5 * TON).store_bytes(HASH)
    expected = store_address(b, WALLET).end_cell()
    assert cell_hash(MESSAGES[4].to_cell()) == cell_hash(expected)


def test_recorded_register_and_top_up_from_mainnet() -> None:
    reg = wallet_message("ext_register_with_init")
    body = parse_client_message(reg.body)
    assert body == RefOwnerClientRegister(7841274822478947000, 12910899998219388264, CLIENT_OWNER)
    assert cell_hash(body.to_cell()) == cell_hash(reg.body)
    assert int(reg.info.value.grams) == opcodes.REGISTER_VALUE

    top = wallet_message("ext_top_up")
    body = parse_client_message(top.body)
    assert body == RefExtClientTopUp(7128640264739313989, 8_700_929_120, CLIENT_OWNER)
    assert cell_hash(body.to_cell()) == cell_hash(top.body)
    assert dest_of(top) == CLIENT_CONTRACT
    assert int(top.info.value.grams) == body.amount + opcodes.TOP_UP_FEE


def test_recorded_change_secret_hash_from_mainnet() -> None:
    msg = wallet_message("ext_change_secret_hash")
    body = parse_client_message(msg.body)
    assert isinstance(body, RefOwnerClientChangeSecretHash)
    assert body.query_id == 9740643730643458226
    assert body.secret_hash.hex() == "65b20dea71f753d544a1fe91b3cbd56d53d2cf9432d3ded5d1ec444d3458dc44"
    assert cell_hash(body.to_cell()) == cell_hash(msg.body)


def test_opcodes_shared_with_our_contracts_are_equal() -> None:
    shared = {name for name in RefOp.__members__ if name in Op.__members__}
    assert len(shared) >= 25
    assert {name: int(RefOp[name]) for name in shared} == {name: int(Op[name]) for name in shared}
    # what only one side has: the reference's key-manager era root ops and reopen; our root extras
    assert {op.name for op in RefOp if op.value not in set(Op)} == {
        "ROOT_UPGRADE_FULL",
        "ROOT_CHANGE_KEY_MANAGER",
        "ROOT_ADD_PUBLIC_KEY_SIGNED",
        "ROOT_ADD_PUBLIC_KEY",
        "OWNER_CLIENT_TOP_UP_REOPEN",
    }
    assert set(CLIENT_MESSAGE_TYPES) == {
        RefOp.OWNER_CLIENT_REGISTER,
        RefOp.EXT_CLIENT_TOP_UP,
        RefOp.OWNER_CLIENT_TOP_UP_REOPEN,
        RefOp.OWNER_CLIENT_CHANGE_SECRET_HASH,
        RefOp.OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP,
        RefOp.OWNER_CLIENT_INCREASE_STAKE,
        RefOp.OWNER_CLIENT_WITHDRAW,
        RefOp.OWNER_CLIENT_REQUEST_REFUND,
    }


def test_unknown_short_and_malformed_bodies_are_refused() -> None:
    with pytest.raises(ChainDataError, match="no 32-bit op"):
        parse_client_message(begin_cell().store_uint(1, 8).end_cell())
    with pytest.raises(ChainDataError, match="0xbb63ff93 is not an owner message"):
        parse_client_message(begin_cell().store_uint(RefOp.EXT_CLIENT_CHARGE_SIGNED, 32).end_cell())
    cut = begin_cell().store_uint(RefOp.OWNER_CLIENT_REGISTER, 32).store_uint(1, 64).end_cell()
    with pytest.raises(ChainDataError, match="nonce"):
        parse_client_message(cut)
    extra = begin_cell().store_cell(MESSAGES[6].to_cell()).store_uint(0, 1).end_cell()
    with pytest.raises(ChainDataError, match="left over"):
        parse_client_message(extra)


def test_secret_hash_and_top_up_rounding() -> None:
    assert secret_hash("").hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert secret_hash("abc") == secret_hash(b"abc")
    assert top_up_amount(15 * TON + 7, 20) == 15 * TON
    assert top_up_amount(15 * TON + 7, 0) == 15 * TON + 7
    with pytest.raises(ValueError, match=">= 0"):
        top_up_amount(-1, 20)
