"""Encode and decode the typed TL messages of `cocoon.tl.types` (boxed: constructor id + body).

The shipped schema (`cocoon/tl/cocoon.tl`) says how each class is laid out; the class only names
its declaration (``TL_NAME``). `decode` raises `TLDecodeError` and nothing else for any input:
truncated data, unknown or unexpected ids, bad Bool ids, absurd vector counts, strings that are not
UTF-8, and bytes left over. `encode` raises `TLEncodeError` for values TL cannot carry.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from cocoon.tl.base import TLObject
from cocoon.tl.errors import TLDecodeError, TLEncodeError, TLSchemaError
from cocoon.tl.primitives import Reader
from cocoon.tl.schema import Combinator, Field, Schema, shipped_schema
from cocoon.tl.types import ALL_TYPES
from cocoon.tl.walker import SchemaWalker

T = TypeVar("T", bound=TLObject)

__all__ = ["TLDecodeError", "TLEncodeError", "TLObject", "constructor_name", "decode", "decode_as", "encode"]


class _TypedAdapter:
    """Builds the dataclasses of `ALL_TYPES` and reads their fields back."""

    def __init__(self, schema: Schema, classes: tuple[type[TLObject], ...]) -> None:
        self.schema = schema
        self.classes: dict[str, type[TLObject]] = {}
        for cls in classes:
            comb = schema.by_name.get(cls.TL_NAME)
            if comb is None or comb.id != cls.TL_ID:
                raise TLSchemaError(f"{cls.__name__}: {cls.TL_NAME} {cls.TL_ID:08x} is not in the schema")
            self.classes[cls.TL_NAME] = cls

    def class_of(self, comb: Combinator) -> type[TLObject]:
        """The class of `comb`; raises `TLDecodeError` when we have none (valid TL, not handled)."""
        cls = self.classes.get(comb.name)
        if cls is None:
            raise TLDecodeError(f"{comb.name} ({comb.id:08x}) is valid TL but not a message we handle")
        return cls

    def build(self, comb: Combinator, values: dict[str, object]) -> object:
        return self.class_of(comb)(**{f.name: values.get(f.name) for f in comb.fields if f.type.name != "#"})

    def combinator_of(self, obj: object) -> Combinator:
        if not isinstance(obj, TLObject) or type(obj) is not self.classes.get(obj.TL_NAME):
            raise TLEncodeError(f"cannot encode a {type(obj).__name__}: not one of cocoon.tl.types")
        return self.schema.by_name[obj.TL_NAME]

    def value_of(self, obj: object, field: Field) -> object:
        return None if field.type.name == "#" else getattr(obj, field.name)

    def decode_string(self, raw: bytes) -> object:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TLDecodeError(f"TL string is not UTF-8: {exc}") from exc


@cache
def _adapter() -> _TypedAdapter:
    return _TypedAdapter(shipped_schema(), ALL_TYPES)


@cache
def _walker() -> SchemaWalker:
    return SchemaWalker(shipped_schema(), _adapter())


def encode(obj: TLObject) -> bytes:
    """The boxed encoding of `obj` (constructor id + fields); raises `TLEncodeError`."""
    return _walker().encode_boxed(obj)


def decode(data: bytes) -> TLObject:
    """The typed object in `data`, which must be exactly one boxed value; raises `TLDecodeError`."""
    walker = _walker()
    if len(data) >= 4:
        # A known constructor we have no class for is refused by its id, before its body is read.
        comb = walker.schema.by_id.get(Reader(data).u32())
        if comb is not None:
            _adapter().class_of(comb)
    obj = walker.decode_boxed(data)
    assert isinstance(obj, TLObject)  # the adapter builds nothing else
    return obj


def decode_as(data: bytes, cls: type[T]) -> T:
    """Like `decode`, but `data` must hold a `cls`; any other constructor raises `TLDecodeError`."""
    if len(data) >= 4:
        cid = Reader(data).u32()
        if cid != cls.TL_ID:
            comb = _walker().schema.by_id.get(cid)
            got = comb.name if comb is not None else f"unknown id {cid:08x}"
            raise TLDecodeError(f"expected {cls.TL_NAME}, got {got}")
    obj = decode(data)
    if not isinstance(obj, cls):
        raise TLDecodeError(f"expected {cls.TL_NAME}, got {type(obj).__name__}")
    return obj


def constructor_name(data: bytes) -> str | None:
    """The TL name of the boxed value `data` starts with, if the shipped schema knows its id (for logs)."""
    if len(data) < 4:
        return None
    comb = _walker().schema.by_id.get(Reader(data).u32())
    return comb.name if comb is not None else None
