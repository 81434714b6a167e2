"""Constructor ids and the typed classes against the reference schema, its id list and its .tlo."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from tl_reference import reference_file

from cocoon.tl import types as tl_types
from cocoon.tl.base import TLObject
from cocoon.tl.errors import TLSchemaError
from cocoon.tl.schema import TypeExpr, constructor_id, normalise, parse_schema, shipped_schema
from cocoon.tl.tlo import read_tlo
from cocoon.tl.types import ALL_TYPES


def reference_schema_text() -> str:
    return reference_file("cocoon_api.tl").read_text(encoding="utf-8")


def reference_ids() -> dict[str, tuple[bool, int, bool]]:
    """name -> (is_function, id, explicit) from constructor_ids.txt."""
    ids = {}
    for line in reference_file("constructor_ids.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        section, name, hex_id, *rest = line.split()
        ids[name] = (section == "functions", int(hex_id, 16), rest == ["E"])
    return ids


def test_every_reference_id_is_recomputed_by_the_parser() -> None:
    schema = parse_schema(reference_schema_text())
    ids = reference_ids()
    assert len(ids) > 100
    ours = {c.name: (c.is_function, c.id, c.explicit_id) for c in schema.constructors + schema.functions}
    assert ours == ids


def test_every_id_matches_the_compiled_tlo() -> None:
    tlo = read_tlo(reference_file("cocoon_api.tlo").read_bytes())
    compiled = {c.name: (c.id, c.is_function) for c in tlo.combinators}
    schema = parse_schema(reference_schema_text())
    combinators = schema.constructors + schema.functions
    assert {c.name: (c.id, c.is_function) for c in combinators} == {
        name: value for name, value in compiled.items() if name in schema.by_name
    }
    # What the .tlo holds beyond our combinators is exactly the built-ins the codec implements.
    assert set(compiled) - set(schema.by_name) == {
        "int", "long", "double", "string", "bytes", "object", "function", "vector", "int128", "int256"
    }  # fmt: skip
    by_name = {c.name: c for c in tlo.combinators}
    for comb in schema.constructors:
        assert by_name[comb.name].type_name == comb.result


def test_shipped_schema_lines_are_the_reference_lines() -> None:
    reference = parse_schema(reference_schema_text())
    shipped = shipped_schema()
    assert len(shipped.by_name) >= 70
    for comb in shipped.constructors + shipped.functions:
        assert comb == reference.by_name[comb.name]


def test_constructor_id_of_single_lines() -> None:
    assert constructor_id("boolTrue = Bool;") == 0x997275B5
    assert constructor_id("tcp.ping id:long = tcp.Packet;") == 0xBBE9627C
    assert (
        constructor_id("client.params#40fdca64 flags:# client_owner_address:string = client.Params")
        == 0x40FDCA64
    )
    assert normalise("a  x:(vector  int256)\n y:int = A;") == "a x:vector int256 y:int = A"


@pytest.mark.parametrize(
    "text",
    [
        "a x:int",  # no result
        "a x:int b = A;",  # a token that is not a field
        "a x:flags.0?int = A;",  # flag field not declared
        "a x:int x:long = A;",  # duplicate field
        "a = A; a = B;",  # duplicate name
        "a x:(vector) = A;",  # vector without element type
    ],
)
def test_bad_schemas_are_refused(text: str) -> None:
    with pytest.raises(TLSchemaError):
        parse_schema(text)


def _python_type_name(hint: object) -> str:
    return str(hint).replace("typing.", "").replace("cocoon.tl.types_client.", "")


def test_every_dataclass_matches_its_schema_line() -> None:
    schema = shipped_schema()
    names = [cls.TL_NAME for cls in ALL_TYPES]
    assert len(names) == len(set(names))
    for cls in ALL_TYPES:
        comb = schema.by_name[cls.TL_NAME]
        assert comb.id == cls.TL_ID, cls
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
        expected_name = "".join(p[0].upper() + p[1:] for p in cls.TL_NAME.split("."))
        assert cls.__name__ == expected_name
        wanted = [(f.name, f.optional) for f in comb.fields if f.type.name != "#"]
        got = [(f.name, f.default is None) for f in dataclasses.fields(cls)]
        assert got == wanted, cls
        hints = typing.get_type_hints(cls)
        for f in comb.fields:
            if f.optional:
                assert type(None) in typing.get_args(hints[f.name]), (cls, f.name)


def test_types_module_exports_every_class() -> None:
    exported = {
        obj
        for obj in vars(tl_types).values()
        if isinstance(obj, type) and issubclass(obj, TLObject) and obj is not TLObject
    }
    assert exported == set(ALL_TYPES)


def test_client_hop_is_complete() -> None:
    needed = [
        "tcp.connect",
        "tcp.connected",
        "tcp.ping",
        "tcp.pong",
        "tcp.packet",
        "tcp.query",
        "tcp.queryAnswer",
        "tcp.queryError",
        "client.connectToProxy",
        "client.params",
        "client.connectedToProxy",
        "proxy.params",
        "client.proxyConnectionAuthShort",
        "client.proxyConnectionAuthLong",
        "proxy.signedPayment",
        "proxy.signedPaymentEmpty",
        "client.authorizeWithProxyShort",
        "client.authorizeWithProxyLong",
        "client.authorizationWithProxySuccess",
        "client.authorizationWithProxyFailed",
        "client.updatePaymentStatus",
        "client.paymentStatus",
        "client.getWorkerTypesV2",
        "client.workerTypesV2",
        "client.workerTypeV2",
        "client.workerInstanceV2",
        "client.getWorkerTypes",
        "client.workerTypes",
        "client.workerType",
        "client.requestRefund",
        "client.refund",
        "client.refundRejected",
        "client.runQueryEx",
        "client.runQuery",
        "http.request",
        "http.header",
        "http.response",
        "client.queryAnswerEx",
        "client.queryAnswerPartEx",
        "client.queryAnswerErrorEx",
        "client.queryFinalInfo",
        "tokensUsed",
        "client.queryAnswer",
        "client.queryAnswerPart",
        "client.queryAnswerError",
        "client.queryAnswerPartError",
        "proxy.clientRequestPayment",
    ]
    assert {cls.TL_NAME for cls in ALL_TYPES} >= set(needed)


def _expected_annotation(t: TypeExpr) -> str:
    simple = {"int": "int", "long": "int", "double": "float", "string": "str", "bytes": "bytes"}
    simple |= {"int256": "bytes", "Bool": "bool"}
    if t.name in simple:
        return simple[t.name]
    if t.name == "vector":
        assert t.param is not None
        return f"tuple[{_expected_annotation(t.param)}, ...]"
    camel = "".join(p[0].upper() + p[1:] for p in t.name.split("."))
    return camel if t.bare else "Any" + camel


def test_every_dataclass_annotation_follows_its_schema_type() -> None:
    schema = shipped_schema()
    for cls in ALL_TYPES:
        for f in schema.by_name[cls.TL_NAME].fields:
            if f.type.name == "#":
                continue
            expected = _expected_annotation(f.type) + (" | None" if f.optional else "")
            assert cls.__annotations__[f.name] == expected, (cls, f.name)
    aliases = [n for n in vars(tl_types) if n.startswith("Any")]
    assert len(aliases) >= 8
    for alias in aliases:  # each Any* alias is exactly the constructors of one boxed type
        members = {m.TL_NAME for m in typing.get_args(getattr(tl_types, alias))}
        type_name = schema.by_name[next(iter(members))].result
        assert alias == "Any" + "".join(p[0].upper() + p[1:] for p in type_name.split("."))
        assert members == {c.name for c in schema.constructors_of(type_name)}, alias
