"""Declarative TL-B-like codec: frozen dataclasses whose field annotations say how they are stored.

A layout is written once, as a class::

    @dataclass(frozen=True)
    class Excesses(Body):
        OP: ClassVar[int] = 0x2565934C
        query_id: U64

and gets both directions: ``Excesses(query_id=1).to_cell()`` and ``Excesses.from_cell(cell)``. Parsing is
strict (leftover bits or refs are an error), as the contracts parse. Field kinds are the ``Annotated``
aliases below (``U32``, ``Coins``, ``Addr``, ``Ref``, ``MaybeRef``...) and nested structs (``RefTo``).
"""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Annotated, Any, ClassVar, Self

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Builder, Cell, Slice, begin_cell, load_address, store_address


class Field:
    """How one field is stored; subclasses implement ``store``/``load``."""

    def store(self, b: Builder, value: Any) -> None:
        raise NotImplementedError

    def load(self, cs: Slice) -> Any:
        raise NotImplementedError


class Uint(Field):
    def __init__(self, bits: int) -> None:
        self.bits = bits

    def store(self, b: Builder, value: Any) -> None:
        b.store_uint(value, self.bits)

    def load(self, cs: Slice) -> Any:
        return cs.load_uint(self.bits)


class Int(Uint):
    def store(self, b: Builder, value: Any) -> None:
        b.store_int(value, self.bits)

    def load(self, cs: Slice) -> Any:
        return cs.load_int(self.bits)


class Bytes(Field):
    def __init__(self, size: int) -> None:
        self.size = size

    def store(self, b: Builder, value: Any) -> None:
        if len(value) != self.size:
            raise ValueError(f"expected {self.size} bytes, got {len(value)}")
        b.store_bytes(value)

    def load(self, cs: Slice) -> Any:
        return bytes(cs.load_bytes(self.size))


class _Coins(Field):
    def store(self, b: Builder, value: Any) -> None:
        if value < 0:
            raise ValueError(f"Coins must be >= 0 nanoTON, got {value}")
        b.store_coins(value)

    def load(self, cs: Slice) -> Any:
        return cs.load_coins()


class _Addr(Field):
    def store(self, b: Builder, value: Any) -> None:
        store_address(b, value)

    def load(self, cs: Slice) -> Any:
        return load_address(cs)


class _Ref(Field):
    def store(self, b: Builder, value: Any) -> None:
        b.store_ref(value)

    def load(self, cs: Slice) -> Any:
        return cs.load_ref()


class _MaybeRef(Field):
    def store(self, b: Builder, value: Any) -> None:
        b.store_maybe_ref(value)

    def load(self, cs: Slice) -> Any:
        return cs.load_maybe_ref()


class RefTo(Field):
    """A nested struct stored in a reference (``^X``)."""

    def __init__(self, struct: type[Struct]) -> None:
        self.struct = struct

    def store(self, b: Builder, value: Any) -> None:
        b.store_ref(value.to_cell())

    def load(self, cs: Slice) -> Any:
        return self.struct.from_cell(cs.load_ref())


U1 = Annotated[int, Uint(1)]
U2 = Annotated[int, Uint(2)]
U8 = Annotated[int, Uint(8)]
U32 = Annotated[int, Uint(32)]
U64 = Annotated[int, Uint(64)]
U256 = Annotated[int, Uint(256)]
I32 = Annotated[int, Int(32)]
Bits256 = Annotated[bytes, Bytes(32)]
Bits512 = Annotated[bytes, Bytes(64)]
Coins = Annotated[int, _Coins()]
Addr = Annotated[Address | None, _Addr()]
Ref = Annotated[Cell, _Ref()]
MaybeRef = Annotated[Cell | None, _MaybeRef()]


def _layout(cls: type) -> list[tuple[str, Field]]:
    """The (name, Field) list of a struct class, from its annotations (cached on the class)."""
    cached: list[tuple[str, Field]] | None = cls.__dict__.get("_layout_cache")
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, include_extras=True)
    layout: list[tuple[str, Field]] = []
    for f in fields(cls):
        meta = [m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, Field)]
        if not meta:
            raise TypeError(f"{cls.__name__}.{f.name} has no storage annotation")
        layout.append((f.name, meta[0]))
    type.__setattr__(cls, "_layout_cache", layout)
    return layout


class Struct:
    """Base of every stored layout. Subclasses are frozen dataclasses."""

    def store_into(self, b: Builder) -> Builder:
        """Append this struct's fields to ``b``."""
        for name, fld in _layout(type(self)):
            fld.store(b, getattr(self, name))
        return b

    def to_cell(self) -> Cell:
        """Serialize to a cell."""
        return self.store_into(begin_cell()).end_cell()

    @classmethod
    def load_from(cls, cs: Slice) -> Self:
        """Read the fields from ``cs`` (leaves the rest of the slice unread)."""
        values: dict[str, Any] = {}
        for name, fld in _layout(cls):
            try:
                values[name] = fld.load(cs)
            except ChainDataError:
                raise
            except Exception as exc:
                raise ChainDataError(f"{cls.__name__}.{name}: cannot decode ({exc})") from exc
        return cls(**values)

    @classmethod
    def from_cell(cls, cell: Cell) -> Self:
        """Parse a whole cell strictly: every bit and ref must be consumed."""
        cs = cell.begin_parse()
        value = cls.load_from(cs)
        expect_end(cs, cls.__name__)
        return value


class Body(Struct):
    """A message body: ``op:uint32`` followed by the fields (first field is usually ``query_id``)."""

    OP: ClassVar[int]

    def store_into(self, b: Builder) -> Builder:
        b.store_uint(self.OP, 32)
        return super().store_into(b)

    @classmethod
    def load_from(cls, cs: Slice) -> Self:
        op = cs.load_uint(32) if cs.remaining_bits >= 32 else None
        if op != cls.OP:
            raise ChainDataError(f"{cls.__name__}: expected op {cls.OP:#010x}, got {op!r}")
        return super().load_from(cs)


def expect_end(cs: Slice, what: str) -> None:
    """Raise if ``cs`` still has bits or refs (strict parsing, like the contracts)."""
    if cs.remaining_bits or cs.remaining_refs:
        raise ChainDataError(
            f"{what}: {cs.remaining_bits} bits and {cs.remaining_refs} refs left over after parsing"
        )
