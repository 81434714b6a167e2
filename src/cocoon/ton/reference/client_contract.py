"""The reference client contract: its initial data, state-init and address, and its state (c4).

One client contract exists per (client owner, proxy contract). Its code is the root's
``client_code``; its data is (``ClientContract::init_data_cell``)::

    state:uint2 balance:Coins stake:Coins tokens_used:uint64 unlock_ts:uint32 secret_hash:bits256
    ^(owner:MsgAddress proxy_contract:MsgAddress proxy_public_key:bits256) ^params

with ``stake = min_client_stake`` and the params cell written without codes. Because the params
(price, delays, stakes, unique_id, versions) are in the data, a new ``params_version`` on the root
means a new client contract address: the reference closes the old one and opens a new one.
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
class RefClientState:
    """A reference client contract's stored state. Money is nanoTON."""

    state: ContractState
    balance: int
    stake: int
    tokens_used: int
    unlock_ts: int
    secret_hash: bytes
    owner: Address | None
    proxy_contract: Address | None
    proxy_public_key: bytes
    params: RefParams

    def tokens_paid(self) -> int:
        """Tokens the balance and past usage cover: ``balance // price + tokens_used`` (reference)."""
        price = self.params.price_per_token
        return self.tokens_used + (self.balance // price if price > 0 else 0)

    def tokens_available(self) -> int:
        """Tokens the proxy may still serve on credit, before its own unsettled usage is subtracted.

        ``min(tokens_paid, tokens_used + stake // price)``: the stake bounds uncharged usage.
        """
        price = self.params.price_per_token
        staked = self.stake // price if price > 0 else 0
        return min(self.tokens_paid(), self.tokens_used + staked)

    def to_cell(self) -> Cell:
        """The data cell (tests and fakes; the chain writes the real one)."""
        return _data_cell(
            self.params,
            self.owner,
            self.proxy_contract,
            self.proxy_public_key,
            state=int(self.state),
            balance=self.balance,
            stake=self.stake,
            tokens_used=self.tokens_used,
            unlock_ts=self.unlock_ts,
            secret_hash=self.secret_hash,
        )


def parse_client_state(data: Cell) -> RefClientState:
    """Parse a reference client contract's data cell (strictly; errors name the field)."""
    what = "reference client contract"
    cs = data.begin_parse()
    state = read_field(what, "state", lambda: ContractState(cs.load_uint(2)))
    balance = read_field(what, "balance", lambda: int(cs.load_coins()))
    stake = read_field(what, "stake", lambda: int(cs.load_coins()))
    tokens_used = read_field(what, "tokens_used", lambda: int(cs.load_uint(64)))
    unlock_ts = read_field(what, "unlock_ts", lambda: int(cs.load_uint(32)))
    secret_hash = read_field(what, "secret_hash", lambda: bytes(cs.load_bytes(32)))
    const = read_field(what, "const_data", cs.load_ref).begin_parse()
    params = RefParams.from_cell(read_field(what, "params", cs.load_ref))
    expect_end(cs, what)
    what = "reference client contract const_data"
    owner = read_field(what, "owner", lambda: load_address(const))
    proxy_contract = read_field(what, "proxy_contract", lambda: load_address(const))
    proxy_public_key = read_field(what, "proxy_public_key", lambda: bytes(const.load_bytes(32)))
    expect_end(const, what)
    return RefClientState(
        state=state,
        balance=balance,
        stake=stake,
        tokens_used=tokens_used,
        unlock_ts=unlock_ts,
        secret_hash=secret_hash,
        owner=owner,
        proxy_contract=proxy_contract,
        proxy_public_key=proxy_public_key,
        params=params,
    )


def client_init_data(
    params: RefParams, owner: Address, proxy_contract: Address, proxy_public_key: bytes
) -> Cell:
    """The data cell of a fresh client contract, exactly as the reference builds it."""
    return _data_cell(params, owner, proxy_contract, proxy_public_key, stake=params.min_client_stake)


def client_state_init(
    root: RefRootState | RefParams, owner: Address, proxy_contract: Address, proxy_public_key: bytes
) -> tuple[Cell, Cell]:
    """(code, data) of the client contract for (owner, proxy contract); code = the root's client code."""
    params = root.params if isinstance(root, RefRootState) else root
    if params.client_code is None:
        raise ChainDataError(
            "the reference root's params carry no client_code; cannot derive a client contract address"
        )
    return params.client_code, client_init_data(params, owner, proxy_contract, proxy_public_key)


def client_contract_address(
    root: RefRootState | RefParams, owner: Address, proxy_contract: Address, proxy_public_key: bytes
) -> Address:
    """The client contract's address on workchain 0 (what ``client.connectedToProxy`` must match)."""
    code, data = client_state_init(root, owner, proxy_contract, proxy_public_key)
    return contract_address(code, data)


def _data_cell(
    params: RefParams,
    owner: Address | None,
    proxy_contract: Address | None,
    proxy_public_key: bytes,
    *,
    state: int = 0,
    balance: int = 0,
    stake: int,
    tokens_used: int = 0,
    unlock_ts: int = 0,
    secret_hash: bytes = bytes(32),
) -> Cell:
    if len(proxy_public_key) != 32 or len(secret_hash) != 32:
        raise ValueError("proxy_public_key and secret_hash must be 32 bytes each")
    const = store_address(begin_cell(), owner)
    store_address(const, proxy_contract).store_bytes(proxy_public_key)
    b = begin_cell().store_uint(state, 2).store_coins(balance).store_coins(stake)
    b.store_uint(tokens_used, 64).store_uint(unlock_ts, 32).store_bytes(secret_hash)
    b.store_ref(const.end_cell()).store_ref(params.to_cell(CodeMask.NONE))
    cell: Cell = b.end_cell()
    return cell
