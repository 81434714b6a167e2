"""Persistent data (c4) layouts of the COCOON contracts and their initial values (spec/contracts.md).

Each ``*Data`` struct both builds a data cell (``to_cell``) and parses the one read from the chain
(``from_cell``). ``*_state_init`` functions give (code, data) of a fresh contract; its address is
:func:`cocoon.ton.cells.contract_address` of that pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pytoniq_core.boc.hashmap import HashMap

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Builder, Cell, Slice, contract_address
from cocoon.ton.codec import U2, U32, U64, U256, Addr, Coins, Field, RefTo, Struct
from cocoon.ton.params import CodeMask, Params


class _ProxyDesc(Field):
    """``ProxyDesc = type:uint1(=0) len:uint7 ascii[len]``, as a Python ``str``."""

    def store(self, b: Builder, value: Any) -> None:
        raw = value.encode("ascii")
        if len(raw) > 127:
            raise ValueError(f"proxy address text is {len(raw)} bytes; at most 127 fit")
        b.store_uint(0, 1).store_uint(len(raw), 7).store_bytes(raw)

    def load(self, cs: Slice) -> Any:
        if cs.load_uint(1) != 0:
            raise ChainDataError("ProxyDesc: unknown type bit 1 (expected 0)")
        return bytes(cs.load_bytes(cs.load_uint(7))).decode("ascii")


class _HashSet(Field):
    """``HashmapE 256 ()``: a set of 256-bit hashes, as ``frozenset[int]``."""

    def store(self, b: Builder, value: Any) -> None:
        hm = HashMap(256, value_serializer=lambda _src, _dest: None)
        hm.map = dict.fromkeys(sorted(value), 0)
        b.store_dict(hm.serialize())

    def load(self, cs: Slice) -> Any:
        return frozenset(cs.load_dict(256) or {})


class _ProxyDict(Field):
    """``HashmapE 32 ProxyDesc``: registered proxies by seqno, as ``dict[int, str]``."""

    def store(self, b: Builder, value: Any) -> None:
        hm = HashMap(32, value_serializer=lambda src, dest: PROXY_DESC.store(dest, src))
        hm.map = dict(sorted(value.items()))
        b.store_dict(hm.serialize())

    def load(self, cs: Slice) -> Any:
        return dict(cs.load_dict(32, value_deserializer=PROXY_DESC.load) or {})


PROXY_DESC = _ProxyDesc()
ProxyDescText = Annotated[str, PROXY_DESC]
HashSet = Annotated[frozenset[int], _HashSet()]
ProxyDict = Annotated[dict[int, str], _ProxyDict()]


@dataclass(frozen=True)
class ProxyEndpoints:
    """Where a registered proxy listens: ``"ip:port"`` or ``"ip_for_workers:port ip_for_clients:port"``."""

    workers: str
    clients: str

    @classmethod
    def parse(cls, text: str) -> ProxyEndpoints:
        parts = text.split()
        if len(parts) == 1:
            return cls(parts[0], parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        raise ChainDataError(
            f"proxy address {text!r}: expected 'ip:port' or 'workers_ip:port clients_ip:port'"
        )

    def __str__(self) -> str:
        return self.workers if self.workers == self.clients else f"{self.workers} {self.clients}"


@dataclass(frozen=True)
class RootRegistry(Struct):
    """The root's referenced registry cell (keep this exact field order)."""

    proxy_hashes: HashSet = frozenset()
    registered_proxies: ProxyDict = field(default_factory=dict)
    last_proxy_seqno: U32 = 0
    worker_hashes: HashSet = frozenset()
    model_hashes: HashSet = frozenset()


@dataclass(frozen=True)
class RootData(Struct):
    owner: Addr
    version: U32
    registry: Annotated[RootRegistry, RefTo(RootRegistry)]
    params: Annotated[Params, RefTo(Params)]


@dataclass(frozen=True)
class ProxyData(Struct):
    owner: Addr
    proxy_public_key: U256
    root: Addr
    state: U2
    balance: Coins
    stake: Coins
    unlock_ts: U32
    params: Annotated[Params, RefTo(Params)]


@dataclass(frozen=True)
class WorkerData(Struct):
    owner: Addr
    proxy_contract: Addr
    proxy_public_key: U256
    state: U2
    tokens: U64
    params: Annotated[Params, RefTo(Params)]


@dataclass(frozen=True)
class ClientOwnerInfo(Struct):
    owner: Addr
    proxy_contract: Addr
    proxy_public_key: U256


@dataclass(frozen=True)
class ClientData(Struct):
    state: U2
    balance: Coins
    stake: Coins
    tokens_used: U64
    unlock_ts: U32
    secret_hash: U256
    info: Annotated[ClientOwnerInfo, RefTo(ClientOwnerInfo)]
    params: Annotated[Params, RefTo(Params)]


@dataclass(frozen=True)
class WalletData(Struct):
    seqno: U32
    subwallet: U32
    public_key: U256
    status: U32
    owner: Addr


def _code(code: Cell | None, what: str) -> Cell:
    if code is None:
        raise ChainDataError(f"the root params carry no {what} code; upgrade_contracts must set it first")
    return code


def root_state_init(code: Cell, owner: Address, params: Params) -> tuple[Cell, Cell]:
    """(code, data) of a fresh root: version 0, empty registry, params with all codes."""
    data = RootData(owner, 0, RootRegistry(), params.masked(CodeMask.ROOT)).to_cell()
    return code, data


def proxy_state_init(
    owner: Address, proxy_public_key: int, root: Address, params: Params
) -> tuple[Cell, Cell]:
    """(code, data) of a proxy contract; the code comes from the root's params."""
    data = ProxyData(owner, proxy_public_key, root, 0, 0, 0, 0, params.masked(CodeMask.PROXY)).to_cell()
    return _code(params.proxy_code, "proxy"), data


def worker_state_init(
    owner: Address, proxy_contract: Address, proxy_public_key: int, params: Params
) -> tuple[Cell, Cell]:
    """(code, data) of the worker contract for (proxy contract, worker owner)."""
    data = WorkerData(owner, proxy_contract, proxy_public_key, 0, 0, params.masked(CodeMask.NONE)).to_cell()
    return _code(params.worker_code, "worker"), data


def client_state_init(
    owner: Address, proxy_contract: Address, proxy_public_key: int, params: Params
) -> tuple[Cell, Cell]:
    """(code, data) of the client contract for (proxy contract, client owner); stake = min_client_stake."""
    info = ClientOwnerInfo(owner, proxy_contract, proxy_public_key)
    data = ClientData(0, 0, params.min_client_stake, 0, 0, 0, info, params.masked(CodeMask.NONE)).to_cell()
    return _code(params.client_code, "client"), data


def wallet_state_init(
    code: Cell, public_key: int, owner: Address | None, subwallet: int = 0
) -> tuple[Cell, Cell]:
    """(code, data) of a node wallet: seqno 0, not blocked."""
    return code, WalletData(0, subwallet, public_key, 0, owner).to_cell()


def address_of(state_init: tuple[Cell, Cell], workchain: int = 0) -> Address:
    """Address of a contract given its (code, data)."""
    return contract_address(state_init[0], state_init[1], workchain)
