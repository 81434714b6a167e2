"""Sample values and Hypothesis strategies for every typed TL class, derived from the schema."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cocoon.tl.base import TLObject
from cocoon.tl.generic import GenericObject
from cocoon.tl.schema import Combinator, Field, Schema, TypeExpr, shipped_schema
from cocoon.tl.types import ALL_TYPES

SCHEMA = shipped_schema()
BY_NAME: dict[str, type[TLObject]] = {cls.TL_NAME: cls for cls in ALL_TYPES}


def _sample(t: TypeExpr, seed: int) -> Any:
    name = t.name
    if name == "int":
        return -seed - 1
    if name == "long":
        return (1 << 40) + seed
    if name == "double":
        return 1.5 + seed
    if name == "string":
        return f"s{seed}-é"
    if name == "bytes":
        return bytes(range(seed % 7 + 1))
    if name == "int256":
        return bytes([seed % 256]) * 32
    if name == "Bool":
        return seed % 2 == 0
    if name == "vector":
        assert t.param is not None
        return tuple(_sample(t.param, seed + i) for i in range(2))
    if t.bare:
        return sample(BY_NAME[name], seed + 1, True)
    return sample(BY_NAME[SCHEMA.constructors_of(name)[0].name], seed + 1, True)


def _fields(cls: type[TLObject]) -> list[Field]:
    return [f for f in SCHEMA.by_name[cls.TL_NAME].fields if f.type.name != "#"]


def sample(cls: type[TLObject], seed: int = 0, optional: bool = True) -> TLObject:
    """An instance of `cls` with every field set (optional ones only when `optional`)."""
    values = {
        f.name: _sample(f.type, seed + i) for i, f in enumerate(_fields(cls)) if optional or not f.optional
    }
    return cls(**values)


def strategy_for(t: TypeExpr) -> st.SearchStrategy[Any]:
    """Any valid value of type `t`."""
    name = t.name
    if name == "int":
        return st.integers(-(1 << 31), (1 << 31) - 1)
    if name == "long":
        return st.integers(-(1 << 63), (1 << 63) - 1)
    if name == "double":
        return st.floats(allow_nan=False)
    if name == "string":
        return st.text(max_size=300)
    if name == "bytes":
        return st.binary(max_size=600)
    if name == "int256":
        return st.binary(min_size=32, max_size=32)
    if name == "Bool":
        return st.booleans()
    if name == "vector":
        assert t.param is not None
        return st.lists(strategy_for(t.param), max_size=3).map(tuple)
    if t.bare:
        return objects(BY_NAME[name])
    return st.one_of([objects(BY_NAME[c.name]) for c in SCHEMA.constructors_of(name)])


def objects(cls: type[TLObject]) -> st.SearchStrategy[TLObject]:
    """Any valid instance of `cls` (fields sharing a flag bit are all set or all None)."""
    fields = _fields(cls)
    bits = sorted({(f.flag_field, f.flag_bit) for f in fields if f.optional})

    @st.composite
    def build(draw: st.DrawFn) -> TLObject:
        present = {bit: draw(st.booleans()) for bit in bits}
        values = {}
        for f in fields:
            if f.optional and not present[(f.flag_field, f.flag_bit)]:
                continue
            values[f.name] = draw(strategy_for(f.type))
        return cls(**values)

    return build()


def any_object() -> st.SearchStrategy[TLObject]:
    """An instance of any typed class."""
    return st.sampled_from(ALL_TYPES).flatmap(objects)


def _generic_value(schema: Schema, t: TypeExpr, seed: int, optional: bool) -> Any:
    name = t.name
    if name == "vector":
        assert t.param is not None
        return tuple(_generic_value(schema, t.param, seed + i, optional) for i in range(2))
    if name in ("Object", "Function"):
        return generic_sample(schema, schema.constructors[seed % len(schema.constructors)], seed, optional)
    if name in ("int", "long", "double", "string", "bytes", "int256", "Bool"):
        return _sample(t, seed)
    comb = (
        schema.by_name[name]
        if t.bare
        else schema.constructors_of(name)[seed % len(schema.constructors_of(name))]
    )
    return generic_sample(schema, comb, seed + 1, optional)


def generic_sample(schema: Schema, comb: Combinator, seed: int = 0, optional: bool = True) -> GenericObject:
    """A generic value of `comb` with every field set (optional ones only when `optional`)."""
    fields = {
        f.name: _generic_value(schema, f.type, seed + i, optional)
        for i, f in enumerate(comb.fields)
        if f.type.name != "#" and (optional or not f.optional)
    }
    return GenericObject(comb.name, comb.id, fields)
