"""The reference root contract's data (c4), params ``struct_version`` 0 to 5: the public network's registry.

Layout (``RootContractConfig::load_from_state``, April 2026)::

    root   = owner:MsgAddress ^data ^params version:uint32 [^key_manager if sv>=4] [^verified if sv>=5]
    data   = proxy_hashes:(HashmapE 256 _) registered_proxies:(HashmapE 32 ProxyDesc)
             last_proxy_seqno:uint32 worker_hashes:(HashmapE 256 _) model_hashes:(HashmapE 256 _)
    key_manager = public_keys:(HashmapE 256 (key_type:uint8 expire_at:uint32))
                  public_key:bits256 image_hash:bits256 address:ProxyDesc
    verified    = proxy_keys worker_keys key_manager_keys, each (HashmapE 256 _)
    ProxyDesc   = type:uint1(=0) len:uint7 ascii[len]     "ip:port" or "workers_ip:port clients_ip:port"

``sv`` is the params cell's struct version: the reference uses it as the version of the whole data
format. Parsing is strict like the reference's (leftover bits are "extra data"), and every failure
is a :class:`ChainDataError` naming the field. Registered proxies whose address the reference could
not use (not IPv4 ``ip:port``) are skipped by it; here they are kept in ``skipped_proxies`` with the
reason, so a caller can log them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Builder, Cell, Slice, begin_cell, load_address, store_address
from cocoon.ton.data import ProxyEndpoints
from cocoon.ton.reference.dicts import load_key_set, load_map, store_key_set, store_map
from cocoon.ton.reference.params import RefParams, expect_end, read_field


@dataclass(frozen=True)
class RegisteredProxy:
    """One entry of ``registered_proxies``: its seqno and where it listens."""

    seqno: int
    endpoints: ProxyEndpoints


@dataclass(frozen=True)
class PublicKeyInfo:
    """A key registered in the key-manager cell (v4+): its type and unix expiry time."""

    key_type: int
    expire_at: int


@dataclass(frozen=True)
class KeyManager:
    """The v4 key-manager cell. ``address`` is ``""`` when no key manager is configured."""

    public_keys: Mapping[bytes, PublicKeyInfo] = field(default_factory=dict)
    public_key: bytes = bytes(32)
    image_hash: bytes = bytes(32)
    address: str = ""


@dataclass(frozen=True)
class VerifiedKeys:
    """The v5 cell: Ed25519 public keys the registry vouches for, per role."""

    proxy_keys: frozenset[bytes] = frozenset()
    worker_keys: frozenset[bytes] = frozenset()
    key_manager_keys: frozenset[bytes] = frozenset()


@dataclass(frozen=True)
class RefRootState:
    """Everything a client reads from the public root: hashes, proxies, params, v4/v5 extras."""

    owner: Address | None
    version: int
    params: RefParams
    proxy_hashes: frozenset[bytes] = frozenset()
    proxies: tuple[RegisteredProxy, ...] = ()
    last_proxy_seqno: int = 0
    worker_hashes: frozenset[bytes] = frozenset()
    model_hashes: frozenset[bytes] = frozenset()
    key_manager: KeyManager | None = None
    verified_keys: VerifiedKeys | None = None
    skipped_proxies: tuple[tuple[int, str], ...] = ()
    """``(seqno, reason)`` of entries the reference would ignore (bad address text)."""

    def proxy(self, seqno: int) -> RegisteredProxy | None:
        """The registered proxy with this seqno, if any."""
        return next((p for p in self.proxies if p.seqno == seqno), None)

    def to_cell(self) -> Cell:
        """The root's data cell in the reference layout for ``params.struct_version`` (tests, fakes)."""
        sv = self.params.struct_version
        if (sv >= 4) != (self.key_manager is not None) or (sv >= 5) != (self.verified_keys is not None):
            raise ValueError(
                f"struct_version {sv} needs key_manager {'set' if sv >= 4 else 'None'} and "
                f"verified_keys {'set' if sv >= 5 else 'None'}"
            )
        data = begin_cell()
        store_key_set(data, self.proxy_hashes)
        proxies = {p.seqno: str(p.endpoints) for p in self.proxies}
        store_map(data, 32, proxies, _store_desc)
        data.store_uint(self.last_proxy_seqno, 32)
        store_key_set(data, self.worker_hashes)
        store_key_set(data, self.model_hashes)
        b = store_address(begin_cell(), self.owner).store_ref(data.end_cell())
        b.store_ref(self.params.to_cell()).store_uint(self.version, 32)
        if self.key_manager is not None:
            b.store_ref(_key_manager_cell(self.key_manager))
        if self.verified_keys is not None:
            v = self.verified_keys
            vb = begin_cell()
            for keys in (v.proxy_keys, v.worker_keys, v.key_manager_keys):
                store_key_set(vb, keys)
            b.store_ref(vb.end_cell())
        cell: Cell = b.end_cell()
        return cell


def parse_reference_root(data: Cell) -> RefRootState:
    """Parse the public root contract's data cell (``AccountState.data``); see the module layout."""
    what = "reference root"
    cs = data.begin_parse()
    owner = read_field(what, "owner", lambda: load_address(cs))
    data_cell = read_field(what, "data", cs.load_ref)
    params = RefParams.from_cell(read_field(what, "params", cs.load_ref))
    version = read_field(what, "version", lambda: int(cs.load_uint(32)))
    sv = params.struct_version
    key_manager = _parse_key_manager(read_field(what, "key_manager", cs.load_ref)) if sv >= 4 else None
    verified = _parse_verified(read_field(what, "verified_keys", cs.load_ref)) if sv >= 5 else None
    expect_end(cs, what)

    what = "reference root data"
    ds = data_cell.begin_parse()
    proxy_hashes = load_key_set(ds, what, "proxy_hashes")
    raw_proxies = load_map(ds, 32, what, "registered_proxies", lambda value: value)
    last_seqno = read_field(what, "last_proxy_seqno", lambda: int(ds.load_uint(32)))
    worker_hashes = load_key_set(ds, what, "worker_hashes")
    model_hashes = load_key_set(ds, what, "model_hashes")
    expect_end(ds, what)

    proxies: list[RegisteredProxy] = []
    skipped: list[tuple[int, str]] = []
    for seqno, value in sorted(raw_proxies.items()):
        try:
            proxies.append(RegisteredProxy(seqno, _endpoints(value)))
        except ChainDataError as exc:
            skipped.append((seqno, str(exc)))
    return RefRootState(
        owner=owner,
        version=version,
        params=params,
        proxy_hashes=proxy_hashes,
        proxies=tuple(proxies),
        last_proxy_seqno=last_seqno,
        worker_hashes=worker_hashes,
        model_hashes=model_hashes,
        key_manager=key_manager,
        verified_keys=verified,
        skipped_proxies=tuple(skipped),
    )


def _load_desc(cs: Slice) -> str | None:
    """``ProxyDesc`` -> its text; ``None`` for type bit 1, which no reference version defines."""
    if cs.load_uint(1) != 0:
        return None
    raw = bytes(cs.load_bytes(cs.load_uint(7)))
    return raw.decode("ascii", errors="replace")


def _store_desc(b: Builder, text: str) -> None:
    raw = text.encode("ascii")
    if len(raw) > 127:
        raise ValueError(f"address text is {len(raw)} bytes; at most 127 fit")
    b.store_uint(0, 1).store_uint(len(raw), 7).store_bytes(raw)


def _endpoints(value: Slice) -> ProxyEndpoints:
    """A registry entry's endpoints; anything the reference would skip raises ChainDataError."""
    text = read_field("registered proxy", "address", lambda: _load_desc(value))
    if text is None:
        raise ChainDataError("registered proxy: unknown address type 1 (only 0 = IPv4 is defined)")
    endpoints = ProxyEndpoints.parse(text)
    for part in {endpoints.workers, endpoints.clients}:
        check_ipv4_endpoint(part)
    return endpoints


def check_ipv4_endpoint(text: str) -> None:
    """Raise unless ``text`` is ``a.b.c.d:port`` (the only form the reference accepts)."""
    host, sep, port = text.strip("[]").rpartition(":")
    try:
        ipaddress.IPv4Address(host)
        ok = bool(sep) and port.isdigit() and 0 < int(port) < 65536
    except ValueError:
        ok = False
    if not ok:
        raise ChainDataError(f"registered proxy address {text!r} is not IPv4 'a.b.c.d:port'")


def _parse_key_manager(cell: Cell) -> KeyManager:
    what = "reference root key_manager"
    cs = cell.begin_parse()
    keys = load_map(cs, 256, what, "public_keys", _load_key_info)
    public_key = read_field(what, "public_key", lambda: bytes(cs.load_bytes(32)))
    image_hash = read_field(what, "image_hash", lambda: bytes(cs.load_bytes(32)))
    address = read_field(what, "address", lambda: _load_desc(cs))
    if address is None:
        raise ChainDataError(f"{what}: field 'address' has unknown type 1 (only 0 = IPv4 is defined)")
    if address:
        try:
            check_ipv4_endpoint(address)
        except ChainDataError as exc:
            raise ChainDataError(f"{what}: field 'address': {exc}") from exc
    expect_end(cs, what)
    return KeyManager({k.to_bytes(32, "big"): v for k, v in keys.items()}, public_key, image_hash, address)


def _load_key_info(cs: Slice) -> PublicKeyInfo:
    info = PublicKeyInfo(int(cs.load_uint(8)), int(cs.load_uint(32)))
    expect_end(cs, "reference root key_manager public key entry")
    return info


def _key_manager_cell(km: KeyManager) -> Cell:
    b = begin_cell()
    keys = {int.from_bytes(k, "big"): v for k, v in km.public_keys.items()}
    store_map(b, 256, keys, lambda vb, v: vb.store_uint(v.key_type, 8).store_uint(v.expire_at, 32))
    b.store_bytes(km.public_key).store_bytes(km.image_hash)
    _store_desc(b, km.address)
    cell: Cell = b.end_cell()
    return cell


def _parse_verified(cell: Cell) -> VerifiedKeys:
    what = "reference root verified_keys"
    cs = cell.begin_parse()
    proxy_keys = load_key_set(cs, what, "proxy_keys")
    worker_keys = load_key_set(cs, what, "worker_keys")
    key_manager_keys = load_key_set(cs, what, "key_manager_keys")
    expect_end(cs, what)
    return VerifiedKeys(proxy_keys, worker_keys, key_manager_keys)
