"""Reference client/proxy contracts: exact initial data, addresses against recorded mainnet, state."""

from __future__ import annotations

from dataclasses import replace

import pytest
from reference_vectors import (
    CLIENT_CODE_HASH,
    CLIENT_CONTRACT,
    CLIENT_OWNER,
    PROXY_CONTRACT,
    PROXY_PUBLIC_KEY,
    PUBLIC_ROOT,
    ROOT_OWNER,
    cell,
    dest_of,
    wallet_message,
)

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import begin_cell, cell_hash, contract_address, store_address
from cocoon.ton.data import ClientData, ClientOwnerInfo
from cocoon.ton.ops import ContractState
from cocoon.ton.params import CodeMask, make_params
from cocoon.ton.reference.client_contract import (
    RefClientState,
    client_contract_address,
    client_init_data,
    client_state_init,
    parse_client_state,
)
from cocoon.ton.reference.params import RefParams
from cocoon.ton.reference.proxy_contract import (
    parse_proxy_state,
    proxy_contract_address,
    proxy_init_data,
)
from cocoon.ton.reference.root import parse_reference_root

OWNER = Address(0, b"\x11" * 32)
PROXY = Address(0, b"\x22" * 32)
KEY = b"\x33" * 32
CODE = begin_cell().store_uint(0xC0DE, 16).end_cell()


def params(sv: int = 5) -> RefParams:
    return RefParams(sv, 3, 7, True, 20, 19, 600, 300, min_client_stake=15 * 10**9, client_code=CODE,
                     proxy_code=CODE, worker_code=CODE)  # fmt: skip


def test_init_data_is_the_documented_layout() -> None:
    const = store_address(store_address(begin_cell(), OWNER), PROXY).store_bytes(KEY).end_cell()
    expected = (
        begin_cell()
        .store_uint(0, 2)
        .store_coins(0)
        .store_coins(15 * 10**9)
        .store_uint(0, 64)
        .store_uint(0, 32)
        .store_bytes(bytes(32))
        .store_ref(const)
        .store_ref(params().to_cell(CodeMask.NONE))
        .end_cell()
    )
    assert cell_hash(client_init_data(params(), OWNER, PROXY, KEY)) == cell_hash(expected)
    code, data = client_state_init(params(), OWNER, PROXY, KEY)
    assert code is CODE and client_contract_address(params(), OWNER, PROXY, KEY) == contract_address(
        code, data
    )


def test_v3_layout_matches_our_own_client_contract() -> None:
    ours = make_params(proxy_code=CODE, worker_code=CODE, client_code=CODE)
    ref = RefParams.from_cell(ours.to_cell())
    info = ClientOwnerInfo(OWNER, PROXY, int.from_bytes(KEY))
    our_data = ClientData(0, 0, ours.min_client_stake, 0, 0, 0, info, ours.masked(CodeMask.NONE)).to_cell()
    assert cell_hash(client_init_data(ref, OWNER, PROXY, KEY)) == cell_hash(our_data)


def test_every_param_moves_the_address() -> None:
    base = client_contract_address(params(), OWNER, PROXY, KEY)
    for change in ({"params_version": 4}, {"struct_version": 4}, {"price_per_token": 21}, {"unique_id": 8}):
        assert client_contract_address(replace(params(), **change), OWNER, PROXY, KEY) != base  # type: ignore[arg-type]
    assert client_contract_address(params(), OWNER, PROXY, b"\x34" * 32) != base


def test_no_client_code_is_a_clear_error() -> None:
    with pytest.raises(ChainDataError, match="no client_code"):
        client_contract_address(replace(params(), client_code=None), OWNER, PROXY, KEY)


def test_recorded_mainnet_addresses_are_derived_from_the_root() -> None:
    """Proxy contract from the root + proxy key; client contract from the root + owner + proxy."""
    root = parse_reference_root(cell("root_data_v4"))
    proxy = parse_proxy_state(cell("proxy_data"))
    assert (proxy.owner, proxy.root, proxy.public_key) == (ROOT_OWNER, PUBLIC_ROOT, PROXY_PUBLIC_KEY)
    assert proxy_contract_address(root, PUBLIC_ROOT, ROOT_OWNER, PROXY_PUBLIC_KEY) == PROXY_CONTRACT
    assert client_contract_address(root, CLIENT_OWNER, PROXY_CONTRACT, PROXY_PUBLIC_KEY) == CLIENT_CONTRACT

    msg = wallet_message("ext_register_with_init")
    assert dest_of(msg) == CLIENT_CONTRACT and msg.init is not None
    code, data = client_state_init(root, CLIENT_OWNER, PROXY_CONTRACT, PROXY_PUBLIC_KEY)
    assert cell_hash(code) == cell_hash(msg.init.code) == CLIENT_CODE_HASH
    assert cell_hash(data) == cell_hash(msg.init.data)


def test_recorded_proxy_state() -> None:
    raw = cell("proxy_data")
    proxy = parse_proxy_state(raw)
    assert proxy.state is ContractState.NORMAL and proxy.params.params_version == 17
    assert proxy.params.proxy_code is None and proxy.params.client_code is not None
    root = parse_reference_root(cell("root_data_v4"))
    assert cell_hash(raw.refs[0]) == cell_hash(root.params.to_cell(CodeMask.PROXY))
    fresh = proxy_init_data(root.params, ROOT_OWNER, PROXY_PUBLIC_KEY, PUBLIC_ROOT)
    assert parse_proxy_state(fresh) == replace(proxy, balance=0, stake=0, unlock_ts=0)


def test_recorded_client_state() -> None:
    raw = cell("client_data")
    state = parse_client_state(raw)
    assert state.state is ContractState.NORMAL
    assert (state.balance, state.stake, state.tokens_used, state.unlock_ts) == (15 * 10**9, 15 * 10**9, 0, 0)
    assert state.secret_hash.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert state.proxy_contract == PROXY_CONTRACT and state.proxy_public_key == PROXY_PUBLIC_KEY
    assert state.params.params_version == 17 and state.params.client_code is None
    assert (state.tokens_paid(), state.tokens_available()) == (750_000_000, 750_000_000)
    assert cell_hash(state.to_cell()) == cell_hash(raw)


def test_available_tokens_are_bounded_by_the_stake() -> None:
    state = RefClientState(ContractState.NORMAL, 100 * 20, 10 * 20, 50, 0, bytes(32), OWNER, PROXY, KEY,
                           params())  # fmt: skip
    assert (state.tokens_paid(), state.tokens_available()) == (150, 60)
    assert parse_client_state(state.to_cell()) == replace(state, params=params().masked(CodeMask.NONE))


@pytest.mark.parametrize(
    ("cut_bits", "field"),
    # 15 TON takes 5 bytes as Coins: 4 + 40 bits for the balance and again for the stake
    [(1, "state"), (2 + 44 + 44 + 40, "tokens_used"), (2 + 44 + 44 + 64 + 32 + 100, "secret_hash")],
)
def test_truncated_client_state_names_the_field(cut_bits: int, field: str) -> None:
    full = parse_client_state(cell("client_data")).to_cell().begin_parse()
    cut = begin_cell().store_bits(full.load_bits(cut_bits)).end_cell()
    with pytest.raises(ChainDataError, match=f"'{field}'"):
        parse_client_state(cut)


def test_client_state_without_const_data_names_it() -> None:
    bits = parse_client_state(cell("client_data")).to_cell().begin_parse()
    no_refs = begin_cell().store_bits(bits.load_bits(bits.remaining_bits)).end_cell()
    with pytest.raises(ChainDataError, match="'const_data'"):
        parse_client_state(no_refs)
