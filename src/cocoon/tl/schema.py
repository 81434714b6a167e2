"""A TL schema parser: combinators, their fields and constructor ids.

A schema is a list of declarations ``name[#id] field:type ... = Result;`` split into sections by
``---types---`` and ``---functions---``. The constructor id is the explicit ``#id`` when present, else
the CRC32 of the declaration with whitespace collapsed, the ``#id`` and ``;`` removed and parentheses
dropped (``(vector X)`` is hashed as ``vector X``), which is how the reference's TL compiler derives it.

Declarations of built-in types (``int ? = Int``, ``vector {t:Type} # [ t ] = Vector t``, ``int256 8*[ int ]
= Int256``, ``bytes data:string = Bytes``) are recognised by name and not returned as combinators: the
codec implements them directly.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from cocoon.tl.errors import TLSchemaError

BUILTIN_TYPES = frozenset(
    {"int", "long", "double", "string", "bytes", "object", "function", "vector", "int128", "int256", "#"}
)
"""Lower-case names the codec implements itself (``#`` is the u32 of ``flags:#``)."""

_BUILTIN_DECLS = BUILTIN_TYPES - {"#"}
_SECTION = re.compile(r"---(types|functions)---")
_NAME = re.compile(r"^([A-Za-z_][\w.]*)(?:#([0-9a-fA-F]{1,8}))?$")
_FIELD = re.compile(r"([A-Za-z_]\w*):(?:([A-Za-z_]\w*)\.(\d+)\?)?(\([^()]*\)|[^\s()]+)")


@dataclass(frozen=True, slots=True)
class TypeExpr:
    """A field's type: a name (``int``, ``client.params``, ``proxy.SignedPayment``, ``vector``, ``#``)
    and, for ``vector``/``Vector``, the element type."""

    name: str
    param: TypeExpr | None = None

    @property
    def bare(self) -> bool:
        """Bare types are written without a constructor id: built-ins and lower-case constructor
        names (``tokensUsed``, ``client.params``); capitalised types (``Bool``, ``proxy.SignedPayment``,
        ``Object``, ``Vector t``) are boxed."""
        last = self.name.rsplit(".", 1)[-1]
        return self.name in BUILTIN_TYPES or last[:1].islower()

    def __str__(self) -> str:
        return f"({self.name} {self.param})" if self.param is not None else self.name


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a combinator; ``flag_field``/``flag_bit`` are set for ``flags.N?T`` fields."""

    name: str
    type: TypeExpr
    flag_field: str | None = None
    flag_bit: int | None = None

    @property
    def optional(self) -> bool:
        """Whether the field is present only when its flag bit is set."""
        return self.flag_field is not None


@dataclass(frozen=True, slots=True)
class Combinator:
    """A constructor (``is_function`` False) or a function of a schema."""

    name: str
    id: int
    fields: tuple[Field, ...]
    result: str
    is_function: bool
    explicit_id: bool
    text: str
    """The normalised declaration (without ``#id``), the text whose CRC32 is the implicit id."""


@dataclass(frozen=True)
class Schema:
    """The combinators of one schema text, indexed by name, id and result type."""

    constructors: tuple[Combinator, ...]
    functions: tuple[Combinator, ...]
    by_name: dict[str, Combinator] = field(init=False, repr=False)
    by_id: dict[int, Combinator] = field(init=False, repr=False)
    by_result: dict[str, tuple[Combinator, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Combinator] = {}
        by_id: dict[int, Combinator] = {}
        by_result: dict[str, list[Combinator]] = {}
        for comb in self.constructors + self.functions:
            if comb.name in by_name:
                raise TLSchemaError(f"TL schema declares {comb.name} twice; keep one declaration")
            if comb.id in by_id:
                other = by_id[comb.id].name
                raise TLSchemaError(f"TL schema: {comb.name} and {other} share id {comb.id:08x}")
            by_name[comb.name] = comb
            by_id[comb.id] = comb
            if not comb.is_function:
                by_result.setdefault(comb.result, []).append(comb)
        object.__setattr__(self, "by_name", by_name)
        object.__setattr__(self, "by_id", by_id)
        object.__setattr__(self, "by_result", {k: tuple(v) for k, v in by_result.items()})

    def constructors_of(self, type_name: str) -> tuple[Combinator, ...]:
        """The constructors whose result type is ``type_name`` (empty if none)."""
        return self.by_result.get(type_name, ())


def normalise(declaration: str) -> str:
    """The text hashed for a constructor id: one space between tokens, no ``#id``, ``;`` or parentheses."""
    text = declaration.strip().rstrip(";")
    tokens = text.replace("(", "").replace(")", " ").split()
    if tokens:
        tokens[0] = tokens[0].split("#", 1)[0]
    return " ".join(tokens)


def constructor_id(declaration: str) -> int:
    """The id of one declaration: its explicit ``#id``, else CRC32 of `normalise` (u32)."""
    first = declaration.split(None, 1)[0] if declaration.strip() else ""
    match = _NAME.match(first)
    if match is not None and match.group(2) is not None:
        return int(match.group(2), 16)
    return zlib.crc32(normalise(declaration).encode())


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _parse_type(text: str, where: str) -> TypeExpr:
    inner = text[1:-1].split() if text.startswith("(") else [text]
    if len(inner) == 1 and inner[0] and inner[0] not in ("vector", "Vector"):
        return TypeExpr(inner[0])
    if len(inner) == 2 and inner[0] in ("vector", "Vector"):
        return TypeExpr(inner[0], TypeExpr(inner[1]))
    raise TLSchemaError(f"{where}: unsupported type expression {text!r}")


def _parse_declaration(decl: str, is_function: bool) -> Combinator | None:
    left, eq, result = decl.rpartition("=")
    if not eq or not left.strip() or not result.strip():
        raise TLSchemaError(f"TL declaration {decl!r} has no '= Result'")
    head, _, rest = left.strip().partition(" ")
    match = _NAME.match(head)
    if match is None:
        raise TLSchemaError(f"TL declaration {decl!r}: bad combinator name {head!r}")
    name = match.group(1)
    if name in _BUILTIN_DECLS:
        return None
    fields: list[Field] = []
    consumed = _FIELD.sub(" ", rest)
    if consumed.strip():
        raise TLSchemaError(f"{name}: cannot parse {consumed.strip()!r} (supported: name:type, flags.N?type)")
    names: set[str] = set()
    for fmatch in _FIELD.finditer(rest):
        fname, flag_field, bit, ftype = fmatch.groups()
        if fname in names:
            raise TLSchemaError(f"{name}: field {fname} declared twice")
        if flag_field is not None and flag_field not in names:
            raise TLSchemaError(f"{name}: field {fname} uses {flag_field} before it is declared")
        names.add(fname)
        fields.append(
            Field(
                name=fname,
                type=_parse_type(ftype, name),
                flag_field=flag_field,
                flag_bit=int(bit) if bit is not None else None,
            )
        )
    return Combinator(
        name=name,
        id=constructor_id(decl),
        fields=tuple(fields),
        result=" ".join(result.split()),
        is_function=is_function,
        explicit_id=match.group(2) is not None,
        text=normalise(decl),
    )


def parse_schema(text: str) -> Schema:
    """Parse a TL schema text; raises `TLSchemaError` on syntax it does not support."""
    constructors: list[Combinator] = []
    functions: list[Combinator] = []
    is_function = False
    for part in _SECTION.split(_strip_comments(text)):
        if part in ("types", "functions"):
            is_function = part == "functions"
            continue
        for decl in part.split(";"):
            if not decl.strip():
                continue
            comb = _parse_declaration(" ".join(decl.split()), is_function)
            if comb is not None:
                (functions if is_function else constructors).append(comb)
    return Schema(tuple(constructors), tuple(functions))


@cache
def shipped_schema() -> Schema:
    """The schema shipped with the package (`cocoon/tl/cocoon.tl`), parsed once."""
    text = resources.files("cocoon.tl").joinpath("cocoon.tl").read_text(encoding="utf-8")
    return parse_schema(text)
