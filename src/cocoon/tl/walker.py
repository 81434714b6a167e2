"""The schema-driven TL walker shared by the typed codec (`codec`) and the generic one (`generic`).

It reads and writes values field by field as the `Schema` describes them; an `Adapter` says how
objects are built from decoded field values and how field values are read from objects, so the same
walk serves frozen dataclasses and generic name-plus-fields values.

Rules (TON's TL): ``int``/``long``/``double`` little-endian, ``int256``/``int128`` raw bytes,
``string``/``bytes`` length-prefixed and padded to 4, ``Bool`` boxed, ``(vector t)`` a u32 count then
the elements (bare or boxed as ``t`` says), ``Vector t`` the same after its own id, lower-case
constructor names bare, capitalised types and ``Object`` boxed, ``flags:#`` a u32 whose bit N says
whether each ``flags.N?T`` field is present.
"""

from __future__ import annotations

from typing import Protocol

from cocoon.tl.errors import TLDecodeError, TLEncodeError, TLSchemaError
from cocoon.tl.primitives import BOOL_FALSE, BOOL_TRUE, VECTOR_ID, Reader, Writer
from cocoon.tl.schema import Combinator, Field, Schema, TypeExpr

MAX_DEPTH = 32
"""Deepest nesting of objects decoded or encoded (the schemas nest 4 levels at most)."""

_FIXED = {"#": 4, "int": 4, "long": 8, "double": 8, "int128": 16, "int256": 32}
_ANY = ("Object", "Function")


class Adapter(Protocol):
    """How a codec's objects are built and taken apart."""

    def build(self, comb: Combinator, values: dict[str, object]) -> object:
        """The object for `comb` from its decoded field values (absent optional fields are missing;
        ``#`` fields are included)."""
        ...

    def combinator_of(self, obj: object) -> Combinator:
        """The combinator `obj` is an instance of; raises `TLEncodeError` if it is none."""
        ...

    def value_of(self, obj: object, field: Field) -> object:
        """`field`'s value in `obj`; None for an absent optional field (and for ``#`` fields that the
        codec computes)."""
        ...

    def decode_string(self, raw: bytes) -> object:
        """The value of a TL ``string`` field."""
        ...


def _present(f: Field, flags: dict[str, int]) -> bool:
    """Whether `f` is in the value, given the ``#`` fields read (or computed) before it."""
    return f.flag_field is None or f.flag_bit is None or bool(flags[f.flag_field] >> f.flag_bit & 1)


def _type_error(where: str, expected: str, value: object) -> TLEncodeError:
    return TLEncodeError(f"{where}: expected {expected}, got {type(value).__name__}")


class SchemaWalker:
    """Encodes and decodes boxed objects of one schema through one adapter."""

    def __init__(self, schema: Schema, adapter: Adapter) -> None:
        self.schema = schema
        self.adapter = adapter
        self._min_sizes: dict[str, int] = {}
        self._check_schema()

    # -- schema checks -------------------------------------------------------------------------------

    def _check_type(self, t: TypeExpr, where: str) -> None:
        if t.name in ("vector", "Vector"):
            if t.param is None:
                raise TLSchemaError(f"{where}: {t.name} needs an element type")
            self._check_type(t.param, where)
        elif t.name in _FIXED or t.name in ("string", "bytes", "Bool", *_ANY):
            pass
        elif t.bare:
            comb = self.schema.by_name.get(t.name)
            if comb is None or comb.is_function:
                raise TLSchemaError(f"{where}: bare type {t.name} is not a constructor of the schema")
        elif not self.schema.constructors_of(t.name):
            raise TLSchemaError(f"{where}: type {t.name} has no constructor in the schema")

    def _check_schema(self) -> None:
        for comb in self.schema.constructors + self.schema.functions:
            kinds = {f.name: f.type.name for f in comb.fields}
            for f in comb.fields:
                where = f"{comb.name}.{f.name}"
                self._check_type(f.type, where)
                if f.flag_field is not None and kinds.get(f.flag_field) != "#":
                    raise TLSchemaError(f"{where}: flag field {f.flag_field} is not of type #")
                if f.flag_bit is not None and not 0 <= f.flag_bit < 32:
                    raise TLSchemaError(f"{where}: flag bit {f.flag_bit} is outside 0..31")

    def min_size(self, t: TypeExpr) -> int:
        """Fewest bytes a value of `t` takes (bounds vector counts by the bytes left)."""
        if t.name in _FIXED:
            return _FIXED[t.name]
        if t.name in ("string", "bytes", "vector", "Bool", *_ANY) or not t.bare:
            return 8 if t.name == "Vector" else 4
        if t.name not in self._min_sizes:
            self._min_sizes[t.name] = 0  # a recursive type counts as 0 while it is being measured
            comb = self.schema.by_name[t.name]
            self._min_sizes[t.name] = sum(self.min_size(f.type) for f in comb.fields if not f.optional)
        return self._min_sizes[t.name]

    # -- encoding ------------------------------------------------------------------------------------

    def encode_boxed(self, obj: object) -> bytes:
        """Constructor id followed by the body of `obj`."""
        writer = Writer()
        comb = self.adapter.combinator_of(obj)
        writer.u32(comb.id)
        self._write_body(writer, comb, obj, 0)
        return writer.getvalue()

    def _flags(self, comb: Combinator, obj: object) -> dict[str, int]:
        flags: dict[str, int] = {}
        present: dict[tuple[str, int], list[bool]] = {}
        known: dict[str, int] = {}
        for f in comb.fields:
            if f.flag_field is not None and f.flag_bit is not None:
                is_set = self.adapter.value_of(obj, f) is not None
                present.setdefault((f.flag_field, f.flag_bit), []).append(is_set)
                known[f.flag_field] = known.get(f.flag_field, 0) | (1 << f.flag_bit)
        for f in comb.fields:
            if f.type.name == "#":
                given = self.adapter.value_of(obj, f)
                value = given if isinstance(given, int) and not isinstance(given, bool) else 0
                # Bits no field of ours is tied to are kept as given (generic values carry them).
                flags[f.name] = value & ~known.get(f.name, 0) & 0xFFFFFFFF
        for (name, bit), states in present.items():
            if any(states) and not all(states):
                raise TLEncodeError(
                    f"{comb.name}: the fields behind {name}.{bit} must all be set or all be None"
                )
            if states[0]:
                flags[name] |= 1 << bit
        return flags

    def _write_body(self, writer: Writer, comb: Combinator, obj: object, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise TLEncodeError(f"{comb.name}: objects nested deeper than {MAX_DEPTH}")
        flags = self._flags(comb, obj)
        for f in comb.fields:
            if f.type.name == "#":
                writer.u32(flags[f.name])
                continue
            if not _present(f, flags):
                continue
            value = self.adapter.value_of(obj, f)
            self._write_value(writer, f.type, value, f"{comb.name}.{f.name}", depth)

    def _write_value(self, writer: Writer, t: TypeExpr, value: object, where: str, depth: int) -> None:
        name = t.name
        try:
            if name == "int":
                writer.i32(value)  # type: ignore[arg-type]  # the writer checks the type
            elif name == "long":
                writer.i64(value)  # type: ignore[arg-type]
            elif name == "#":
                writer.u32(value)  # type: ignore[arg-type]
            elif name == "double":
                writer.f64(value)  # type: ignore[arg-type]
            elif name in ("int256", "int128"):
                size = _FIXED[name]
                if not isinstance(value, bytes | bytearray) or len(value) != size:
                    raise _type_error(where, f"{size} bytes", value)
                writer.raw(value)
            elif name == "string":
                if isinstance(value, str):
                    writer.tl_bytes(value.encode("utf-8"))
                elif isinstance(value, bytes | bytearray):
                    writer.tl_bytes(value)
                else:
                    raise _type_error(where, "str", value)
            elif name == "bytes":
                if not isinstance(value, bytes | bytearray):
                    raise _type_error(where, "bytes", value)
                writer.tl_bytes(value)
            elif name == "Bool":
                if not isinstance(value, bool):
                    raise _type_error(where, "bool", value)
                writer.u32(BOOL_TRUE if value else BOOL_FALSE)
            elif name in ("vector", "Vector"):
                self._write_vector(writer, t, value, where, depth)
            else:
                self._write_object(writer, t, value, where, depth)
        except TLEncodeError as exc:
            if str(exc).startswith(where):
                raise
            raise TLEncodeError(f"{where}: {exc}") from exc

    def _write_vector(self, writer: Writer, t: TypeExpr, value: object, where: str, depth: int) -> None:
        if not isinstance(value, tuple | list) or t.param is None:
            raise _type_error(where, "a tuple", value)
        if t.name == "Vector":
            writer.u32(VECTOR_ID)
        writer.u32(len(value))
        for i, item in enumerate(value):
            self._write_value(writer, t.param, item, f"{where}[{i}]", depth)

    def _write_object(self, writer: Writer, t: TypeExpr, value: object, where: str, depth: int) -> None:
        comb = self.adapter.combinator_of(value)
        if t.name in _ANY:
            ok = True
        elif t.bare:
            ok = comb.name == t.name
        else:
            ok = comb.result == t.name and not comb.is_function
        if not ok:
            raise TLEncodeError(f"{where}: expected {t.name}, got {comb.name}")
        if not t.bare:
            writer.u32(comb.id)
        self._write_body(writer, comb, value, depth + 1)

    # -- decoding ------------------------------------------------------------------------------------

    def decode_boxed(self, data: bytes) -> object:
        """The object in `data` (constructor or function call); every byte must be used."""
        reader = Reader(data)
        comb = self._read_id(reader, None)
        obj = self._read_body(reader, comb, 0)
        reader.end()
        return obj

    def _read_id(self, reader: Reader, t: TypeExpr | None) -> Combinator:
        offset = reader.pos
        cid = reader.u32()
        comb = self.schema.by_id.get(cid)
        if comb is None:
            raise TLDecodeError(f"unknown TL constructor id {cid:08x} at offset {offset}")
        if t is not None and t.name not in _ANY and (comb.is_function or comb.result != t.name):
            raise TLDecodeError(f"expected a {t.name} at offset {offset}, got {comb.name}")
        return comb

    def _read_body(self, reader: Reader, comb: Combinator, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise TLDecodeError(f"{comb.name}: objects nested deeper than {MAX_DEPTH}")
        values: dict[str, object] = {}
        flags: dict[str, int] = {}
        for f in comb.fields:
            if not _present(f, flags):
                continue
            if f.type.name == "#":
                flags[f.name] = reader.u32()
                values[f.name] = flags[f.name]
            else:
                values[f.name] = self._read_value(reader, f.type, depth)
        return self.adapter.build(comb, values)

    def _read_value(self, reader: Reader, t: TypeExpr, depth: int) -> object:
        name = t.name
        if name == "int":
            return reader.i32()
        if name == "long":
            return reader.i64()
        if name == "#":
            return reader.u32()
        if name == "double":
            return reader.f64()
        if name in ("int256", "int128"):
            return reader.raw(_FIXED[name], name)
        if name == "bytes":
            return reader.tl_bytes()
        if name == "string":
            return self.adapter.decode_string(reader.tl_bytes())
        if name == "Bool":
            offset = reader.pos
            cid = reader.u32()
            if cid not in (BOOL_TRUE, BOOL_FALSE):
                raise TLDecodeError(f"expected a Bool at offset {offset}, got id {cid:08x}")
            return cid == BOOL_TRUE
        if name in ("vector", "Vector"):
            return self._read_vector(reader, t, depth)
        if t.bare:
            return self._read_body(reader, self.schema.by_name[name], depth + 1)
        return self._read_body(reader, self._read_id(reader, t), depth + 1)

    def _read_vector(self, reader: Reader, t: TypeExpr, depth: int) -> tuple[object, ...]:
        assert t.param is not None  # checked with the schema
        if t.name == "Vector":
            offset = reader.pos
            if reader.u32() != VECTOR_ID:
                raise TLDecodeError(f"expected a Vector id at offset {offset}")
        offset = reader.pos
        count = reader.u32()
        # Elements of zero size do not occur in our schemas; count them as 1 byte to bound the loop.
        if count * max(self.min_size(t.param), 1) > reader.remaining:
            raise TLDecodeError(
                f"vector at offset {offset} claims {count} elements but only {reader.remaining} bytes follow"
            )
        return tuple(self._read_value(reader, t.param, depth) for _ in range(count))
