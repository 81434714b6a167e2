"""Every reference parser, fed random or damaged cells, answers a value or ChainDataError, nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from reference_vectors import cell

from cocoon.errors import ChainDataError
from cocoon.ton.cells import Cell, begin_cell
from cocoon.ton.reference.client_contract import parse_client_state
from cocoon.ton.reference.client_messages import parse_client_message
from cocoon.ton.reference.params import RefParams
from cocoon.ton.reference.proxy_contract import parse_proxy_state
from cocoon.ton.reference.root import parse_reference_root

PARSERS: list[Callable[[Cell], Any]] = [
    parse_reference_root,
    parse_client_state,
    parse_proxy_state,
    RefParams.from_cell,
    parse_client_message,
]


def only_chain_data_errors(raw: Cell) -> None:
    for parse in PARSERS:
        with contextlib.suppress(ChainDataError):  # any other exception fails the test
            parse(raw)


cells = st.recursive(
    st.binary(max_size=127).map(lambda b: begin_cell().store_bytes(b).end_cell()),
    lambda children: st.tuples(st.binary(max_size=100), st.lists(children, max_size=4)).map(
        lambda t: _with_refs(t[0], t[1])
    ),
    max_leaves=12,
)


def _with_refs(data: bytes, refs: list[Cell]) -> Cell:
    b = begin_cell().store_bytes(data)
    for ref in refs:
        b.store_ref(ref)
    return b.end_cell()


@settings(max_examples=300, deadline=None)
@given(cells)
def test_random_cells(raw: Cell) -> None:
    only_chain_data_errors(raw)


def _flip(raw: Cell, path: list[int], bit: int) -> Cell:
    """``raw`` with one data bit flipped in the cell reached by following ``path`` (ref indexes)."""
    descend = bool(path) and bool(raw.refs)
    refs = list(raw.refs)
    if descend:
        i = path[0] % len(refs)
        refs[i] = _flip(refs[i], path[1:], bit)
    bits = raw.begin_parse()
    n = bits.remaining_bits
    data = bits.load_bits(n)
    b = begin_cell()
    if n and not descend:
        k = bit % n
        b.store_bits(data[:k]).store_bit(1 - data[k]).store_bits(data[k + 1 :])
    else:
        b.store_bits(data)
    for r in refs:
        b.store_ref(r)
    return b.end_cell()


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["root_data_v4", "client_data", "proxy_data"]),
    path=st.lists(st.integers(0, 3), max_size=3),
    bit=st.integers(0, 1022),
)
def test_recorded_cells_with_one_bit_flipped(name: str, path: list[int], bit: int) -> None:
    only_chain_data_errors(_flip(cell(name), path, bit))
