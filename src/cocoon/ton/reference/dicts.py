"""``HashmapE`` helpers for the reference layouts: key sets (values ignored) and typed maps.

pytoniq-core does the dictionary encoding; these wrap it so that a failure names the field and keys
of hash/key sets come back as 32-byte strings (how hashes and Ed25519 keys are compared elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pytoniq_core.boc.hashmap import HashMap

from cocoon.ton.cells import Builder, Slice
from cocoon.ton.reference.params import read_field

_V = TypeVar("_V")


def load_key_set(cs: Slice, what: str, name: str) -> frozenset[bytes]:
    """``HashmapE 256 _`` -> the set of its keys as 32-byte strings (values are not read)."""
    raw = read_field(what, name, lambda: cs.load_dict(256))
    return frozenset(int(k).to_bytes(32, "big") for k in (raw or {}))


def load_map(
    cs: Slice, key_bits: int, what: str, name: str, load_value: Callable[[Slice], _V]
) -> dict[int, _V]:
    """``HashmapE key_bits V`` -> ``{key: load_value(value)}``."""
    raw = read_field(what, name, lambda: cs.load_dict(key_bits, value_deserializer=load_value))
    return {int(k): v for k, v in (raw or {}).items()}


def store_key_set(b: Builder, keys: Iterable[bytes]) -> None:
    """Store a ``HashmapE 256 _`` with empty values (``0`` bit when there are no keys)."""
    ints: dict[int, None] = {}
    for key in keys:
        if len(key) != 32:
            raise ValueError(f"a 256-bit key must be 32 bytes, got {len(key)}")
        ints[int.from_bytes(key, "big")] = None
    hm = HashMap(256, value_serializer=lambda _src, _dest: None)
    hm.map = dict(sorted(ints.items()))
    b.store_dict(hm.serialize())


def store_map(
    b: Builder, key_bits: int, values: Mapping[int, _V], store_value: Callable[[Builder, _V], Any]
) -> None:
    """Store a ``HashmapE key_bits V`` with ``store_value(builder, value)`` per entry."""
    hm = HashMap(key_bits, value_serializer=lambda src, dest: store_value(dest, src))
    hm.map = dict(sorted(values.items()))
    b.store_dict(hm.serialize())
