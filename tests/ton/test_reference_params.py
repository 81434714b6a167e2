"""The reference params cell, struct versions 0..5: exact bits, round trips, strict errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference_vectors import cell, wallet_message

from cocoon.errors import ChainDataError
from cocoon.ton.cells import Cell, begin_cell
from cocoon.ton.params import CodeMask, make_params
from cocoon.ton.reference.params import MAX_STRUCT_VERSION, RefParams

CODES = tuple(begin_cell().store_uint(n, 16).end_cell() for n in (1, 2, 3))


def sample(sv: int, **overrides: object) -> RefParams:
    values: dict[str, object] = dict(
        struct_version=sv,
        params_version=17,
        unique_id=239,
        is_test=False,
        price_per_token=20,
        worker_fee_per_token=19,
        proxy_delay_before_close=86_400,
        client_delay_before_close=43_200,
        prompt_mult=10_001,
        cached_mult=1_000,
        completion_mult=80_000,
        reasoning_mult=80_001,
        min_proxy_stake=15 * 10**9,
        min_client_stake=16 * 10**9,
        proxy_code=CODES[0],
        worker_code=CODES[1],
        client_code=CODES[2],
    )
    values.update(overrides)
    return RefParams(**values)  # type: ignore[arg-type]


def by_hand(p: RefParams, with_codes: bool = True) -> Cell:
    """The layout written out field by field, independently of RefParams.to_cell."""
    b = begin_cell().store_uint(p.struct_version, 8).store_uint(p.params_version, 32)
    b.store_uint(p.unique_id, 32).store_bit(p.is_test)
    b.store_coins(p.price_per_token).store_coins(p.worker_fee_per_token)
    sv = p.struct_version
    if sv >= 2:
        mults = [p.prompt_mult, p.cached_mult, p.completion_mult, p.reasoning_mult]
        if sv == 2:
            mults = [p.cached_mult, p.reasoning_mult]
        for m in mults:
            b.store_uint(m, 32)
    b.store_uint(p.proxy_delay_before_close, 32).store_uint(p.client_delay_before_close, 32)
    if sv >= 1:
        b.store_coins(p.min_proxy_stake).store_coins(p.min_client_stake)
    for code in (p.proxy_code, p.worker_code, p.client_code):
        b.store_maybe_ref(code if with_codes else None)
    return b.end_cell()


@pytest.mark.parametrize("sv", range(MAX_STRUCT_VERSION + 1))
def test_every_version_has_the_reference_bits_and_round_trips(sv: int) -> None:
    p = sample(sv)
    assert p.to_cell().hash == by_hand(p).hash
    assert p.to_cell(CodeMask.NONE).hash == by_hand(p, with_codes=False).hash
    back = RefParams.from_cell(p.to_cell())
    assert back.to_cell().hash == p.to_cell().hash
    assert back.client_code is not None and back.client_code.hash == CODES[2].hash
    assert (back.price_per_token, back.worker_fee_per_token) == (20, 19)


def test_absent_fields_take_the_reference_defaults() -> None:
    v0 = RefParams.from_cell(sample(0).to_cell())
    assert (v0.prompt_mult, v0.cached_mult, v0.completion_mult, v0.reasoning_mult) == (10_000,) * 4
    assert (v0.min_proxy_stake, v0.min_client_stake) == (10**9, 10**9)
    v2 = RefParams.from_cell(sample(2).to_cell())
    assert (v2.prompt_mult, v2.cached_mult, v2.completion_mult, v2.reasoning_mult) == (
        10_000,
        1_000,
        10_000,
        80_001,
    )
    assert v2.min_client_stake == 16 * 10**9


def test_code_masks_keep_what_each_contract_stores() -> None:
    p = sample(4)
    proxy = RefParams.from_cell(p.to_cell(CodeMask.PROXY))
    assert proxy.proxy_code is None and proxy.worker_code is not None and proxy.client_code is not None
    none = RefParams.from_cell(p.to_cell(CodeMask.NONE))
    assert (none.proxy_code, none.worker_code, none.client_code) == (None, None, None)


def test_v3_is_the_layout_of_our_own_params() -> None:
    ours = make_params(proxy_code=CODES[0], worker_code=CODES[1], client_code=CODES[2])
    ref = RefParams.from_cell(ours.to_cell())
    assert ref.struct_version == 3 and ref.to_cell().hash == ours.to_cell().hash


def test_recorded_client_state_init_carries_v4_params_without_codes() -> None:
    init = wallet_message("ext_register_with_init").init
    params_cell = init.data.refs[1]
    p = RefParams.from_cell(params_cell)
    assert p == sample(4, prompt_mult=10_000, reasoning_mult=80_000, min_client_stake=15 * 10**9).masked(
        CodeMask.NONE
    )
    assert p.to_cell(CodeMask.NONE).hash == params_cell.hash


def test_a_newer_struct_version_is_refused_by_name() -> None:
    raw = begin_cell().store_uint(MAX_STRUCT_VERSION + 1, 8).store_uint(0, 200).end_cell()
    with pytest.raises(ChainDataError, match="struct_version 6"):
        RefParams.from_cell(raw)


@pytest.mark.parametrize(
    ("keep_bits", "field"),
    [(0, "struct_version"), (8 + 32 + 32 + 1 + 12, "worker_fee_per_token"), (100, "prompt_mult")],
)
def test_a_truncated_cell_names_the_missing_field(keep_bits: int, field: str) -> None:
    full = sample(5).to_cell(CodeMask.NONE).begin_parse()
    cut = begin_cell().store_bits(full.load_bits(keep_bits)).end_cell()
    with pytest.raises(ChainDataError, match=f"'{field}'"):
        RefParams.from_cell(cut)


def test_extra_data_after_the_codes_is_refused() -> None:
    p = sample(5)
    extra = begin_cell().store_cell(p.to_cell(CodeMask.NONE)).store_uint(1, 1).end_cell()
    with pytest.raises(ChainDataError, match="extra data"):
        RefParams.from_cell(extra)


def test_recorded_root_params_parse() -> None:
    p = RefParams.from_cell(cell("root_data_v4").refs[1])
    assert p.struct_version == 4 and p.params_version == 17 and p.unique_id == 239
    assert p.client_code is not None and p.proxy_code is not None and p.worker_code is not None


@given(
    sv=st.integers(0, MAX_STRUCT_VERSION),
    u32=st.lists(st.integers(0, 2**32 - 1), min_size=8, max_size=8),
    coins=st.lists(st.integers(0, 2**120 - 1), min_size=4, max_size=4),
    is_test=st.booleans(),
)
def test_any_values_round_trip(sv: int, u32: list[int], coins: list[int], is_test: bool) -> None:
    p = RefParams(sv, u32[0], u32[1], is_test, coins[0], coins[1], u32[2], u32[3])
    if sv >= 1:  # fields a version stores take any value; the others keep their defaults
        p = replace(p, min_proxy_stake=coins[2], min_client_stake=coins[3])
    if sv >= 2:
        p = replace(p, cached_mult=u32[5], reasoning_mult=u32[7])
    if sv >= 3:
        p = replace(p, prompt_mult=u32[4], completion_mult=u32[6])
    assert RefParams.from_cell(p.to_cell()) == p
