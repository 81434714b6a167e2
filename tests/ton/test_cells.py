"""Cells and message bodies of our contracts: layouts round-trip, parsing is strict, signatures verify."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytoniq_core import Address as PtAddress

from cocoon.errors import ChainDataError
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.cells import begin_cell, cell_hash, contract_address, internal_message, text_cell
from cocoon.ton.data import (
    ClientData,
    ProxyData,
    ProxyEndpoints,
    RootData,
    RootRegistry,
    WalletData,
    WorkerData,
    address_of,
    client_state_init,
    proxy_state_init,
    worker_state_init,
)
from cocoon.ton.ops import Op
from cocoon.ton.params import PARAMS_STRUCT_VERSION, CodeMask, Params, make_params, params_cell
from cocoon.ton.parse import BODY_TYPES, Bounced, TextCommand, UnknownBody, parse_body, parse_bounced
from cocoon.ton.signed import SignedPayload, public_key_of, sign_request
from cocoon.ton.wallet import WalletExternal, WalletTransfer

A = Address(0, bytes(range(32)))
B = Address(-1, bytes(32 * [0xAB]))
PARAMS = make_params(
    proxy_code=text_cell("proxy"), worker_code=text_cell("worker"), client_code=text_cell("client")
)


def test_address_forms_match_pytoniq() -> None:
    for addr in (A, B):
        assert Address.parse(addr.raw) == addr
        assert Address.parse(addr.friendly()) == addr
        pt = PtAddress(addr.raw)
        assert addr.friendly(bounceable=False) == pt.to_str(is_bounceable=False)
        assert addr.friendly(testnet=True) == pt.to_str(is_test_only=True)


def test_address_rejects_bad_checksum() -> None:
    text = A.friendly()
    with pytest.raises(ChainDataError):
        Address.parse(text[:-2] + ("AA" if text[-2:] != "AA" else "BB"))


def test_params_round_trip_and_masks() -> None:
    assert Params.from_cell(params_cell(PARAMS, CodeMask.ROOT)) == PARAMS
    proxy_view = Params.from_cell(params_cell(PARAMS, CodeMask.PROXY))
    assert proxy_view.proxy_code is None and proxy_view.worker_code is not None
    none_view = Params.from_cell(params_cell(PARAMS, CodeMask.NONE))
    assert (none_view.proxy_code, none_view.worker_code, none_view.client_code) == (None, None, None)


def test_params_other_struct_version_refused() -> None:
    cell = params_cell(PARAMS, CodeMask.NONE)
    bumped = begin_cell().store_uint(PARAMS_STRUCT_VERSION - 1, 8).store_cell(cell).end_cell()
    with pytest.raises(ChainDataError, match="struct_version"):
        Params.from_cell(bumped)


def test_state_init_address_is_hash_of_00110_code_data() -> None:
    code, data = text_cell("code"), text_cell("data")
    manual = begin_cell().store_uint(0b00110, 5).store_ref(code).store_ref(data).end_cell()
    assert contract_address(code, data) == Address(0, cell_hash(manual))


def test_contract_addresses_depend_on_every_input() -> None:
    base = address_of(client_state_init(A, B, 7, PARAMS))
    assert base != address_of(client_state_init(B, B, 7, PARAMS))
    assert base != address_of(client_state_init(A, A, 7, PARAMS))
    assert base != address_of(client_state_init(A, B, 8, PARAMS))
    other = make_params(proxy_code=None, worker_code=None, client_code=PARAMS.client_code, unique_id=99)
    assert base != address_of(client_state_init(A, B, 7, other))
    assert address_of(worker_state_init(A, B, 7, PARAMS)) != address_of(proxy_state_init(A, 7, B, PARAMS))


def test_initial_data_cells_parse_back() -> None:
    proxy = ProxyData.from_cell(proxy_state_init(A, 5, B, PARAMS)[1])
    assert (proxy.owner, proxy.root, proxy.state, proxy.stake) == (A, B, 0, 0)
    assert proxy.params.proxy_code is None and proxy.params.client_code is not None
    worker = WorkerData.from_cell(worker_state_init(A, B, 5, PARAMS)[1])
    assert (worker.owner, worker.proxy_contract, worker.tokens) == (A, B, 0)
    client = ClientData.from_cell(client_state_init(A, B, 5, PARAMS)[1])
    assert client.stake == PARAMS.min_client_stake and client.info.proxy_public_key == 5
    assert WalletData.from_cell(WalletData(3, 1, 2**255, 0, None).to_cell()).seqno == 3


def test_root_data_with_dictionaries_round_trips() -> None:
    registry = RootRegistry(
        frozenset({1, 2**256 - 1}), {1: "1.2.3.4:5", 9: "a:1 b:2"}, 9, frozenset(), frozenset({7})
    )
    root = RootData(A, 4, registry, PARAMS)
    assert RootData.from_cell(root.to_cell()) == root


def test_proxy_desc_longer_than_127_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="127"):
        m.RegisterProxy(1, "x" * 128).to_cell()


SAMPLES: list[object] = [
    m.Excesses(1),
    m.Payout(2),
    m.SaveState.make(3, -5, b"s" * 32),
    m.AddModelType(4, 2**256 - 1),
    m.DelProxyType(5, 1),
    m.RegisterProxy(6, "127.0.0.1:11001 127.0.0.1:11002"),
    m.UpdateProxy(7, 2, "10.0.0.1:1"),
    m.ChangeParams(8, 20, 19, 600, 300, 10**9, 2 * 10**9),
    m.UpgradeContracts(9, text_cell("p"), text_cell("w"), text_cell("c")),
    m.ChangeOwner(10, B),
    m.ClientProxyRequest(11, A, m.ClientStateSnapshot(1, 2, 3, 4, 5), m.ClientRegisterPayload(77).to_cell()),
    m.WorkerProxyRequest(12, A, 2, 1000, m.WorkerPayoutPayload(19000, 1000, B).to_cell()),
    m.ExtProxyIncreaseStake(13, 5 * 10**9, None),
    m.OwnerClientChangeSecretHashAndTopUp(14, 10**9, 2**200, A),
    m.OwnerWalletSendMessage(15, 3, internal_message(src=None, dest=A, value=1)),
]


@pytest.mark.parametrize("body", SAMPLES, ids=lambda b: type(b).__name__)
def test_bodies_round_trip_through_parse_body(body: m.Body) -> None:
    assert parse_body(body.to_cell()) == body


def test_every_registered_op_is_unique_and_matches_class() -> None:
    assert all(op == cls.OP for op, cls in BODY_TYPES.items())
    assert Op.DO_NOT_PROCESS not in BODY_TYPES  # notes have their own dispatch


def test_payloads_parse_to_their_structs() -> None:
    req = SAMPLES[11]
    assert isinstance(req, m.WorkerProxyRequest)
    assert m.payload_of(req) == m.WorkerPayoutPayload(19000, 1000, B)


def test_strict_parsing_rejects_leftover_bits() -> None:
    cell = begin_cell().store_cell(m.Excesses(1).to_cell()).store_uint(1, 1).end_cell()
    parsed = parse_body(cell)
    assert isinstance(parsed, UnknownBody) and parsed.op == Op.EXCESSES and "left over" in parsed.reason


def test_text_unknown_and_empty_bodies() -> None:
    assert parse_body(text_cell("w")) == TextCommand("w")
    assert parse_body(begin_cell().store_uint(0xDEADBEEF, 32).end_cell()) == UnknownBody(
        0xDEADBEEF, "unknown op"
    )
    assert parse_body(begin_cell().end_cell()) is None
    free_note = begin_cell().store_uint(Op.DO_NOT_PROCESS, 32).store_uint(1, 64).store_uint(5, 3).end_cell()
    assert parse_body(free_note) == m.DoNotProcess(1)


def test_signed_request_verifies_and_detects_tampering() -> None:
    sk = os.urandom(32)
    req = sign_request(
        sk, Op.EXT_CLIENT_CHARGE_SIGNED, query_id=9, target=A, new_tokens=100, send_excesses_to=B
    )
    parsed = parse_body(req.to_cell())
    assert parsed == req
    assert req.verify(public_key_of(sk))
    assert not req.verify(public_key_of(os.urandom(32)))
    assert req.signed_payload() == SignedPayload(Op.EXT_CLIENT_CHARGE_SIGNED, 9, 100, A)
    forged = SignedPayload(Op.EXT_CLIENT_CHARGE_SIGNED, 9, 10**9, A).to_cell()
    assert not type(req)(9, B, req.signature, forged).verify(public_key_of(sk))


def test_signed_close_has_no_tokens_and_rejects_them() -> None:
    sk = os.urandom(32)
    req = sign_request(sk, Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, query_id=1, target=A)
    assert req.signed_payload().new_tokens is None and req.verify(public_key_of(sk))
    with pytest.raises(ValueError):
        sign_request(sk, Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, query_id=1, target=A, new_tokens=5)


def test_wallet_external_signature_covers_unsigned_part() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sk = os.urandom(32)
    ext = WalletExternal(0, 1000, 4, (WalletTransfer(3, internal_message(src=None, dest=A, value=5)),))
    body = ext.signed_body(sk)
    parsed = WalletExternal.from_cell(body)
    assert (parsed.seqno, parsed.valid_until, len(parsed.transfers)) == (4, 1000, 1)
    Ed25519PublicKey.from_public_bytes(public_key_of(sk)).verify(
        parsed.signature, cell_hash(ext.unsigned_cell())
    )


@given(
    price=st.integers(0, 2**120 - 1),
    delay=st.integers(0, 2**32 - 1),
    stake=st.integers(0, 2**120 - 1),
)
def test_change_params_round_trips_any_values(price: int, delay: int, stake: int) -> None:
    body = m.ChangeParams(2**64 - 1, price, price, delay, delay, stake, stake)
    assert m.ChangeParams.from_cell(body.to_cell()) == body


def test_bounced_body_gives_original_op_and_query_id() -> None:
    original = m.ExtClientTopUp(77, 10**9, A).to_cell()
    bounced = (
        begin_cell().store_uint(0xFFFFFFFF, 32).store_bits(original.begin_parse().load_bits(256)).end_cell()
    )
    assert parse_bounced(bounced) == Bounced(Op.EXT_CLIENT_TOP_UP, 77)
    assert isinstance(parse_bounced(text_cell("x")), UnknownBody)


@pytest.mark.parametrize(
    ("text", "workers", "clients"),
    [("1.2.3.4:11001", "1.2.3.4:11001", "1.2.3.4:11001"), ("1.1.1.1:1 2.2.2.2:2", "1.1.1.1:1", "2.2.2.2:2")],
)
def test_proxy_endpoints_parse_and_print(text: str, workers: str, clients: str) -> None:
    endpoints = ProxyEndpoints.parse(text)
    assert (endpoints.workers, endpoints.clients, str(endpoints)) == (workers, clients, text)


def test_proxy_endpoints_reject_three_parts() -> None:
    with pytest.raises(ChainDataError):
        ProxyEndpoints.parse("a:1 b:2 c:3")
