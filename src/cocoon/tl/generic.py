"""Decode and encode any constructor of a schema as a name plus field values (tests, logs).

`decode_generic` turns a boxed value into a `GenericObject`; ``string`` fields become `str` when they
are UTF-8 and stay `bytes` otherwise (the reference's own records keep BoCs in strings), ``flags``
fields are kept as ints, absent optional fields are missing from ``fields``. `encode_generic` is the
inverse. `describe` renders any bytes for a log line and never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cocoon.tl.errors import TLDecodeError, TLEncodeError
from cocoon.tl.schema import Combinator, Field, Schema, shipped_schema
from cocoon.tl.walker import SchemaWalker


@dataclass(frozen=True)
class GenericObject:
    """One decoded constructor or function call: its TL name, id and field values by name."""

    name: str
    id: int
    fields: Mapping[str, object]


class _GenericAdapter:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def build(self, comb: Combinator, values: dict[str, object]) -> object:
        return GenericObject(comb.name, comb.id, values)

    def combinator_of(self, obj: object) -> Combinator:
        if not isinstance(obj, GenericObject):
            raise TLEncodeError(f"expected a GenericObject, got {type(obj).__name__}")
        comb = self.schema.by_name.get(obj.name)
        if comb is None:
            raise TLEncodeError(f"{obj.name} is not in the schema")
        unknown = set(obj.fields) - {f.name for f in comb.fields}
        if unknown:
            raise TLEncodeError(f"{obj.name} has no field(s) {', '.join(sorted(unknown))}")
        return comb

    def value_of(self, obj: object, field: Field) -> object:
        assert isinstance(obj, GenericObject)
        if field.name not in obj.fields and not field.optional and field.type.name != "#":
            raise TLEncodeError(f"{obj.name}: field {field.name} is missing")
        return obj.fields.get(field.name)

    def decode_string(self, raw: bytes) -> object:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw


_WALKERS: dict[int, SchemaWalker] = {}


def _walker(schema: Schema | None) -> SchemaWalker:
    schema = schema if schema is not None else shipped_schema()
    walker = _WALKERS.get(id(schema))
    if walker is None or walker.schema is not schema:
        walker = SchemaWalker(schema, _GenericAdapter(schema))
        _WALKERS[id(schema)] = walker
    return walker


def decode_generic(data: bytes, schema: Schema | None = None) -> GenericObject:
    """The boxed value in `data` (default: the shipped schema); raises `TLDecodeError` only."""
    obj = _walker(schema).decode_boxed(data)
    assert isinstance(obj, GenericObject)
    return obj


def encode_generic(obj: GenericObject, schema: Schema | None = None) -> bytes:
    """The boxed encoding of `obj`; flag bits follow which optional fields are present."""
    return _walker(schema).encode_boxed(obj)


def _render(value: object) -> str:
    # Long byte strings are summarised so that a 16 MiB payload does not become a 64 MiB log line.
    if isinstance(value, GenericObject):
        inner = ", ".join(f"{k}={_render(v)}" for k, v in value.fields.items())
        return f"{value.name}{{{inner}}}"
    if isinstance(value, bytes) and len(value) > 32:
        return f"<{len(value)} bytes {value[:16].hex()}...>"
    if isinstance(value, str) and len(value) > 64:
        return repr(value[:64]) + f"...<{len(value)} chars>"
    if isinstance(value, tuple):
        items = [_render(v) for v in value[:8]]
        return "[" + ", ".join(items) + (f", ...<{len(value)} items>]" if len(value) > 8 else "]")
    return repr(value)


def describe(data: bytes, schema: Schema | None = None, limit: int = 300) -> str:
    """A one-line rendering of `data` for logs, at most about `limit` characters; never raises."""
    try:
        text = _render(decode_generic(data, schema))
    except TLDecodeError as exc:
        head = data[:4][::-1].hex() if len(data) >= 4 else data.hex()
        text = f"<undecodable TL, {len(data)} bytes, id {head}: {exc}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
