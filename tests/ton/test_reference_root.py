"""The public root's data layout, params v3/v4/v5: constructed cells, the recorded one, strict errors."""

from __future__ import annotations

import pytest
from pytoniq_core.boc.hashmap import HashMap
from reference_vectors import CLIENT_CODE_HASH, ROOT_OWNER, cell

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Builder, Cell, begin_cell, cell_hash, store_address
from cocoon.ton.data import ProxyEndpoints, RootData, RootRegistry
from cocoon.ton.params import make_params
from cocoon.ton.reference.params import RefParams
from cocoon.ton.reference.root import (
    KeyManager,
    PublicKeyInfo,
    RefRootState,
    RegisteredProxy,
    VerifiedKeys,
    parse_reference_root,
)

OWNER = Address(0, bytes(range(32)))
CODES = tuple(begin_cell().store_uint(n, 16).end_cell() for n in (1, 2, 3))
H = [bytes([n]) * 32 for n in range(1, 12)]


def params(sv: int) -> RefParams:
    return RefParams(sv, 17, 239, False, 20, 19, 86_400, 43_200, proxy_code=CODES[0],
                     worker_code=CODES[1], client_code=CODES[2])  # fmt: skip


def key_set(b: Builder, keys: list[bytes]) -> None:
    hm = HashMap(256, value_serializer=lambda _v, _b: None)
    hm.map = {int.from_bytes(k, "big"): None for k in keys}
    b.store_dict(hm.serialize() if keys else None)


def desc(b: Builder, text: str, kind: int = 0) -> None:
    b.store_uint(kind, 1).store_uint(len(text), 7).store_bytes(text.encode())


def root_by_hand(
    sv: int,
    proxies: dict[int, tuple[int, str]],
    km: Cell | None = None,
    verified: Cell | None = None,
    truncated_entry: tuple[int, Cell] | None = None,
) -> Cell:
    """The documented layout, written out with pytoniq directly (not through RefRootState)."""
    data = begin_cell()
    key_set(data, [H[0], H[1]])

    def value(v: tuple[int, str], b: Builder) -> None:
        if truncated_entry is not None and v == proxies[truncated_entry[0]]:
            b.store_cell(truncated_entry[1])
        else:
            desc(b, v[1], v[0])

    hm = HashMap(32, value_serializer=value)
    hm.map = dict(proxies)
    data.store_dict(hm.serialize() if proxies else None)
    data.store_uint(max(proxies, default=0) + 1, 32)
    key_set(data, [H[2]])
    key_set(data, [H[3], H[4], H[5]])
    b = store_address(begin_cell(), OWNER).store_ref(data.end_cell())
    b.store_ref(params(sv).to_cell()).store_uint(87, 32)
    for extra in (km, verified):
        if extra is not None:
            b.store_ref(extra)
    return b.end_cell()


def km_by_hand(address: str = "10.0.0.1:9000", keys: dict[bytes, tuple[int, int]] | None = None) -> Cell:
    b = begin_cell()
    hm = HashMap(256, value_serializer=lambda v, vb: vb.store_uint(v[0], 8).store_uint(v[1], 32))
    hm.map = {int.from_bytes(k, "big"): v for k, v in (keys or {}).items()}
    b.store_dict(hm.serialize() if keys else None)
    b.store_bytes(H[6]).store_bytes(H[7])
    desc(b, address)
    return b.end_cell()


def verified_by_hand() -> Cell:
    b = begin_cell()
    key_set(b, [H[8]])
    key_set(b, [H[9], H[10]])
    key_set(b, [])
    return b.end_cell()


PROXIES = {1: (0, "1.2.3.4:5222 1.2.3.4:8888"), 4: (0, "5.6.7.8:11002")}


def test_v3_root_parses_every_field() -> None:
    root = parse_reference_root(root_by_hand(3, PROXIES))
    assert root.owner == OWNER and root.version == 87 and root.params == params(3)
    assert root.proxy_hashes == {H[0], H[1]} and root.worker_hashes == {H[2]}
    assert root.model_hashes == {H[3], H[4], H[5]} and root.last_proxy_seqno == 5
    assert root.proxies == (
        RegisteredProxy(1, ProxyEndpoints("1.2.3.4:5222", "1.2.3.4:8888")),
        RegisteredProxy(4, ProxyEndpoints("5.6.7.8:11002", "5.6.7.8:11002")),
    )
    assert root.key_manager is None and root.verified_keys is None and root.skipped_proxies == ()


def test_v4_root_reads_the_key_manager_cell() -> None:
    keys = {H[8]: (1, 1_800_000_000), H[9]: (2, 0)}
    root = parse_reference_root(root_by_hand(4, PROXIES, km_by_hand(keys=keys)))
    assert root.key_manager == KeyManager(
        {H[8]: PublicKeyInfo(1, 1_800_000_000), H[9]: PublicKeyInfo(2, 0)}, H[6], H[7], "10.0.0.1:9000"
    )
    assert root.verified_keys is None


def test_v5_root_reads_the_verified_keys_cell() -> None:
    root = parse_reference_root(root_by_hand(5, PROXIES, km_by_hand(address=""), verified_by_hand()))
    assert root.key_manager is not None and root.key_manager.address == ""
    assert root.verified_keys == VerifiedKeys(frozenset({H[8]}), frozenset({H[9], H[10]}), frozenset())


@pytest.mark.parametrize("sv", [3, 4, 5])
def test_to_cell_writes_the_same_bits(sv: int) -> None:
    km = km_by_hand(keys={H[8]: (1, 7)}) if sv >= 4 else None
    verified = verified_by_hand() if sv >= 5 else None
    raw = root_by_hand(sv, PROXIES, km, verified)
    assert cell_hash(parse_reference_root(raw).to_cell()) == cell_hash(raw)


def test_our_own_root_is_readable_as_a_v3_reference_root() -> None:
    ours = make_params(proxy_code=CODES[0], worker_code=CODES[1], client_code=CODES[2])
    registry = RootRegistry(frozenset({7}), {3: "9.9.9.9:1 9.9.9.9:2"}, 4, frozenset({8}), frozenset())
    root = parse_reference_root(RootData(OWNER, 2, registry, ours).to_cell())
    assert root.params.to_cell().hash == ours.to_cell().hash
    assert root.proxy_hashes == {(7).to_bytes(32, "big")} and root.proxy(3) is not None


def test_unusable_proxy_entries_are_skipped_with_a_reason() -> None:
    proxies = {1: (0, "1.2.3.4:5222"), 2: (1, "1.2.3.4:5"), 3: (0, "proxy.example:443"), 5: (0, "1.2.3.4")}
    truncated = begin_cell().store_uint(0, 1).store_uint(20, 7).store_bytes(b"1.2.3.4:1").end_cell()
    root = parse_reference_root(root_by_hand(3, proxies | {6: (0, "")}, truncated_entry=(6, truncated)))
    assert [p.seqno for p in root.proxies] == [1]
    assert [seqno for seqno, _ in root.skipped_proxies] == [2, 3, 5, 6]
    reasons = [reason for _, reason in root.skipped_proxies]
    assert "type 1" in reasons[0] and "IPv4" in reasons[1] and "'address'" in reasons[3]


def test_v3_root_with_an_extra_ref_is_refused() -> None:
    with pytest.raises(ChainDataError, match=r"reference root: .*extra data"):
        parse_reference_root(root_by_hand(3, PROXIES, km_by_hand()))


def test_v4_root_without_its_key_manager_cell_names_the_field() -> None:
    with pytest.raises(ChainDataError, match="'key_manager'"):
        parse_reference_root(root_by_hand(4, PROXIES))


def test_v5_root_without_its_verified_keys_cell_names_the_field() -> None:
    with pytest.raises(ChainDataError, match="'verified_keys'"):
        parse_reference_root(root_by_hand(5, PROXIES, km_by_hand()))


def test_bad_key_manager_address_and_entries_are_refused() -> None:
    with pytest.raises(ChainDataError, match="key_manager: field 'address'"):
        parse_reference_root(root_by_hand(4, PROXIES, km_by_hand(address="localhost:1")))
    bad_entry = begin_cell()
    hm = HashMap(256, value_serializer=lambda v, vb: vb.store_uint(v, 41))  # one bit too many
    hm.map = {1: 5}
    bad_entry.store_dict(hm.serialize()).store_bytes(H[6]).store_bytes(H[7])
    desc(bad_entry, "")
    with pytest.raises(ChainDataError, match="public key entry"):
        parse_reference_root(root_by_hand(4, PROXIES, bad_entry.end_cell()))


def test_truncated_registry_names_the_field() -> None:
    data = begin_cell()
    key_set(data, [H[0]])
    data.store_dict(None).store_uint(1, 16)  # last_proxy_seqno cut short
    b = store_address(begin_cell(), OWNER).store_ref(data.end_cell())
    b.store_ref(params(3).to_cell()).store_uint(1, 32)
    with pytest.raises(ChainDataError, match=r"reference root data: .*'last_proxy_seqno'"):
        parse_reference_root(b.end_cell())


def test_to_cell_refuses_extras_that_do_not_match_the_version() -> None:
    with pytest.raises(ValueError, match="struct_version 4"):
        RefRootState(OWNER, 1, params(4)).to_cell()


def test_recorded_public_root_v4() -> None:
    raw = cell("root_data_v4")
    root = parse_reference_root(raw)
    p = root.params
    assert (root.owner, root.version, p.struct_version, p.params_version, p.unique_id) == (
        ROOT_OWNER, 87, 4, 17, 239,
    )  # fmt: skip
    assert (p.is_test, p.price_per_token, p.worker_fee_per_token) == (False, 20, 19)
    assert (p.prompt_mult, p.cached_mult, p.completion_mult, p.reasoning_mult) == (
        10_000, 1_000, 80_000, 80_000,
    )  # fmt: skip
    assert (p.proxy_delay_before_close, p.client_delay_before_close) == (86_400, 43_200)
    assert (p.min_proxy_stake, p.min_client_stake) == (15 * 10**9, 15 * 10**9)
    assert root.proxies == (RegisteredProxy(2, ProxyEndpoints("91.108.4.11:5222", "91.108.4.11:8888")),)
    assert root.last_proxy_seqno == 3 and root.skipped_proxies == ()
    assert (len(root.proxy_hashes), len(root.worker_hashes), len(root.model_hashes)) == (4, 5, 4)
    assert root.key_manager == KeyManager()  # v4 cell present, nothing configured in it
    assert p.client_code is not None and cell_hash(p.client_code) == CLIENT_CODE_HASH
    assert cell_hash(root.to_cell()) == cell_hash(raw)
