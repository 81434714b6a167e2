"""The reference proxy contract's initial data and address (to check ``client.connectedToProxy``).

A reference client recomputes the proxy contract address from (proxy owner, proxy public key, root)
and refuses a proxy whose announced contract differs. Data (``ProxyContract::init_data_cell``)::

    owner:MsgAddress public_key:bits256 root:MsgAddress state:uint2 balance:Coins stake:Coins
    unlock_ts:uint32 ^params          (params with the worker and client codes, code mask 6)
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, begin_cell, contract_address, load_address, store_address
from cocoon.ton.ops import ContractState
from cocoon.ton.params import CodeMask
from cocoon.ton.reference.params import RefParams, expect_end, read_field
from cocoon.ton.reference.root import RefRootState


@dataclass(frozen=True)
class RefProxyState:
    """A reference proxy contract's stored state. Money is nanoTON."""

    owner: Address | None
    public_key: bytes
    root: Address | None
    state: ContractState
    balance: int
    stake: int
    unlock_ts: int
    params: RefParams


def parse_proxy_state(data: Cell) -> RefProxyState:
    """Parse a reference proxy contract's data cell (strictly; errors name the field)."""
    what = "reference proxy contract"
    cs = data.begin_parse()
    owner = read_field(what, "owner", lambda: load_address(cs))
    public_key = read_field(what, "public_key", lambda: bytes(cs.load_bytes(32)))
    root = read_field(what, "root", lambda: load_address(cs))
    state = read_field(what, "state", lambda: ContractState(cs.load_uint(2)))
    balance = read_field(what, "balance", lambda: int(cs.load_coins()))
    stake = read_field(what, "stake", lambda: int(cs.load_coins()))
    unlock_ts = read_field(what, "unlock_ts", lambda: int(cs.load_uint(32)))
    params = RefParams.from_cell(read_field(what, "params", cs.load_ref))
    expect_end(cs, what)
    return RefProxyState(owner, public_key, root, state, balance, stake, unlock_ts, params)


def proxy_init_data(params: RefParams, owner: Address, public_key: bytes, root: Address) -> Cell:
    """The data cell of a fresh proxy contract, exactly as the reference builds it."""
    if len(public_key) != 32:
        raise ValueError(f"proxy public key must be 32 bytes, got {len(public_key)}")
    b = store_address(begin_cell(), owner).store_bytes(public_key)
    store_address(b, root).store_uint(0, 2).store_coins(0).store_coins(0).store_uint(0, 32)
    cell: Cell = b.store_ref(params.to_cell(CodeMask.PROXY)).end_cell()
    return cell


def proxy_contract_address(
    root_state: RefRootState, root: Address, owner: Address, public_key: bytes
) -> Address:
    """The proxy contract's address for (proxy owner, proxy public key) under the root at ``root``."""
    params = root_state.params
    if params.proxy_code is None:
        raise ChainDataError("the reference root's params carry no proxy_code; cannot derive its address")
    return contract_address(params.proxy_code, proxy_init_data(params, owner, public_key, root))
