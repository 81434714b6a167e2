"""A reader of compiled TL schemas (``.tlo``): the combinator ids and names they hold.

A ``.tlo`` file is itself TL: a boxed ``tls.schema_v2/v3/v4`` holding the types, then the
constructors and functions as ``tls.combinator`` values whose argument lists and type expressions
are walked (not kept) to reach the next one. Used by the tests to check our ids against the ground
truth the reference compiler produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.tl.errors import TLDecodeError
from cocoon.tl.primitives import Reader

SCHEMA_VERSIONS = {0x3A2F9BE2: 2, 0xE4A8604B: 3, 0x90AC88D7: 4}
_TYPE = 0x12EB4386
_COMBINATOR = 0x5C0A1ED5
_LEFT_BUILTIN = 0xCD211F63
_LEFT = 0x4C12C6D9
_RIGHT = 0x2C064372
_ARG = 0x29DFE61B
_EXPR_NAT = 0xDCB49BD8  # also the old id of a nat constant
_EXPR_TYPE = 0xECC9DA78
_NAT_CONST = 0x8CE940B1
_NAT_VAR = 0x4E8A14F0
_TYPE_VAR = 0x0142CEAE
_ARRAY = 0xD9FB20DE
_TYPE_EXPR = 0xC1863D08
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class TloCombinator:
    """One combinator of a compiled schema."""

    name: str
    id: int
    type_name: str
    """The result type's name (for functions, the type the call returns)."""
    is_function: bool


@dataclass(frozen=True, slots=True)
class TloSchema:
    """The schema version and combinators of a ``.tlo`` file."""

    version: int
    types: dict[int, str]
    combinators: tuple[TloCombinator, ...]


class _TloReader:
    def __init__(self, data: bytes) -> None:
        self.r = Reader(data)
        self.version = 0
        self.types: dict[int, str] = {}

    def string(self) -> str:
        raw = self.r.tl_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TLDecodeError(f".tlo name is not UTF-8: {exc}") from exc

    def expect(self, magic: int, what: str) -> None:
        offset = self.r.pos
        got = self.r.u32()
        if got != magic:
            raise TLDecodeError(f".tlo: expected {what} ({magic:08x}) at offset {offset}, got {got:08x}")

    def nat_expr(self) -> None:
        tag = self.r.u32()
        if tag in (_NAT_CONST, _EXPR_NAT):
            self.r.i32()
        elif tag == _NAT_VAR:
            self.r.i32()
            self.r.i32()
        else:
            raise TLDecodeError(f".tlo: unknown nat expression {tag:08x}")

    def type_expr(self, depth: int) -> int | None:
        """Walk one type expression; return the type id at its root when it names one."""
        if depth > _MAX_DEPTH:
            raise TLDecodeError(".tlo: type expression nested too deep")
        tag = self.r.u32()
        if tag == _TYPE_VAR:
            self.r.i32()
            self.r.i32()
            return None
        if tag == _ARRAY:
            self.nat_expr()
            self.args(depth + 1)
            return None
        if tag != _TYPE_EXPR:
            raise TLDecodeError(f".tlo: unknown type expression {tag:08x}")
        type_id = self.r.u32()
        self.r.i32()  # flags
        for _ in range(self.count()):
            child = self.r.u32()
            if child == _EXPR_NAT:
                self.nat_expr()
            elif child == _EXPR_TYPE:
                self.type_expr(depth + 1)
            else:
                raise TLDecodeError(f".tlo: unknown expression {child:08x}")
        return type_id

    def count(self) -> int:
        n = self.r.i32()
        if not 0 <= n <= self.r.remaining // 4:
            raise TLDecodeError(f".tlo: count {n} does not fit the {self.r.remaining} bytes left")
        return n

    def args(self, depth: int) -> None:
        optional_flag = 2 if self.version < 3 else 4
        has_var_flag = optional_flag ^ 6
        for _ in range(self.count()):
            self.expect(_ARG, "tls.arg")
            self.r.tl_bytes()
            flags = self.r.i32()
            if flags & has_var_flag:
                self.r.i32()
            if flags & optional_flag:
                self.r.i32()
                self.r.i32()
            self.type_expr(depth + 1)

    def combinator(self, is_function: bool) -> TloCombinator:
        self.expect(_COMBINATOR, "tls.combinator")
        cid = self.r.u32()
        name = self.string()
        type_id = self.r.u32()
        left = self.r.u32()
        if left == _LEFT:
            self.args(0)
        elif left != _LEFT_BUILTIN:
            raise TLDecodeError(f".tlo: {name}: unknown combinator left {left:08x}")
        self.expect(_RIGHT, "tls.combinatorRight")
        result = self.type_expr(0)
        type_name = self.types.get(type_id if result is None else result, "")
        return TloCombinator(name=name, id=cid, type_name=type_name, is_function=is_function)

    def schema(self) -> TloSchema:
        magic = self.r.u32()
        if magic not in SCHEMA_VERSIONS:
            raise TLDecodeError(f".tlo: unknown schema magic {magic:08x}")
        self.version = SCHEMA_VERSIONS[magic]
        self.r.i32()  # version
        self.r.i32()  # date
        for _ in range(self.count()):
            self.expect(_TYPE, "tls.type")
            type_id = self.r.u32()
            self.types[type_id] = self.string()
            self.r.i32()  # constructors
            self.r.i32()  # flags
            self.r.i32()  # arity
            self.r.i64()  # params type
        combinators = [self.combinator(False) for _ in range(self.count())]
        combinators += [self.combinator(True) for _ in range(self.count())]
        self.r.end()
        return TloSchema(self.version, dict(self.types), tuple(combinators))


def read_tlo(data: bytes) -> TloSchema:
    """The combinators of a compiled schema; raises `TLDecodeError` if `data` is not one."""
    return _TloReader(data).schema()
