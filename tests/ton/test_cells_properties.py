"""Property tests: every registered body type (and every contract data layout) round-trips exactly.

Values are drawn from each field's storage kind, read from the same layout the codec uses, so a new
body type is covered as soon as it is registered in ``cocoon.ton.parse.BODY_TYPES``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocoon.ton import codec
from cocoon.ton.address import Address
from cocoon.ton.cells import text_cell
from cocoon.ton.data import PROXY_DESC, ClientData, ProxyData, RootData, WalletData, WorkerData
from cocoon.ton.params import PARAMS_STRUCT_VERSION, Params
from cocoon.ton.parse import BODY_TYPES, parse_body

addresses = st.builds(Address, st.integers(-128, 127), st.binary(min_size=32, max_size=32))
cells = st.text(max_size=40).map(text_cell)


def strategy_for(kind: codec.Field) -> st.SearchStrategy[Any]:
    """Values a field of storage ``kind`` may hold."""
    if isinstance(kind, codec.Int):
        return st.integers(-(2 ** (kind.bits - 1)), 2 ** (kind.bits - 1) - 1)
    if isinstance(kind, codec.Uint):
        return st.integers(0, 2**kind.bits - 1)
    if isinstance(kind, codec.Bytes):
        return st.binary(min_size=kind.size, max_size=kind.size)
    if isinstance(kind, codec.RefTo):
        return struct_strategy(kind.struct)
    if kind is PROXY_DESC:
        return st.text(alphabet="0123456789.: abc", max_size=127)
    name = type(kind).__name__
    simple: dict[str, st.SearchStrategy[Any]] = {
        # Every nanoTON in existence fits in 63 bits (total supply about 5e18). The layouts leave room
        # for such amounts, not for several 120-bit ones at once (ProxyData's cell would overflow).
        "_Coins": st.integers(0, 2**63 - 1),
        "_Addr": st.none() | addresses,
        "_Ref": cells,
        "_MaybeRef": st.none() | cells,
        "_HashSet": st.frozensets(st.integers(0, 2**256 - 1), max_size=4),
        "_ProxyDict": st.dictionaries(
            st.integers(0, 2**32 - 1), st.text(alphabet="0123456789.:", max_size=30), max_size=3
        ),
    }
    return simple[name]


def struct_strategy(cls: type[codec.Struct]) -> st.SearchStrategy[Any]:
    hints = get_type_hints(cls, include_extras=True)
    kwargs = {}
    for f in fields(cls):  # type: ignore[arg-type]  # Struct subclasses are dataclasses
        kind = next(m for m in hints[f.name].__metadata__ if isinstance(m, codec.Field))
        kwargs[f.name] = strategy_for(kind)
    if cls is Params:
        kwargs["struct_version"] = st.just(PARAMS_STRUCT_VERSION)  # others are refused by design
    return st.builds(cls, **kwargs)


@pytest.mark.parametrize(
    "body_type", sorted(BODY_TYPES.values(), key=lambda c: c.__name__), ids=lambda c: c.__name__
)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_body_type_round_trips(body_type: type[codec.Body], data: st.DataObject) -> None:
    body = data.draw(struct_strategy(body_type))
    assert parse_body(body.to_cell()) == body


@pytest.mark.parametrize(
    "layout", [RootData, ProxyData, WorkerData, ClientData, WalletData], ids=lambda c: c.__name__
)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_every_data_layout_round_trips(layout: type[codec.Struct], data: st.DataObject) -> None:
    value = data.draw(struct_strategy(layout))
    assert layout.from_cell(value.to_cell()) == value
