"""Metering table tests: every expected value below is computed by hand in its comment."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.errors import PaymentError
from cocoon.payments import (
    DEFAULT_PARAMS,
    NetworkParams,
    adjusted_tokens,
    choice_cap,
    client_cost,
    completion_budget,
    format_ton,
    parse_ton,
    proxy_commission,
    reservation_tokens,
    worker_earnings,
)
from cocoon.usage import Usage


def test_spec_worked_example() -> None:
    # spec/economics.md: P=1000, C=200, O=500, R=100 at 1.0x:
    # prompt 1000-200=800, cached 200, completion 500-100=400, reasoning 100 -> 1500 adjusted tokens,
    # client pays 1500*20 = 30,000 nanoTON, worker earns 1500*19 = 28,500, proxy keeps 1500*1 = 1,500.
    usage = Usage(prompt_tokens=1000, cached_tokens=200, completion_tokens=500, reasoning_tokens=100)
    adj = adjusted_tokens(usage, 1000, DEFAULT_PARAMS)
    assert (adj.prompt, adj.cached, adj.completion, adj.reasoning, adj.total) == (800, 200, 400, 100, 1500)
    assert client_cost(adj.total, DEFAULT_PARAMS) == 30_000
    assert worker_earnings(adj.total, DEFAULT_PARAMS) == 28_500
    assert proxy_commission(adj.total, DEFAULT_PARAMS) == 1_500


@pytest.mark.parametrize(
    ("usage", "coefficient", "params", "expected"),
    [
        # coefficient 1500 = 1.5x: 800*1.5=1200, 200*1.5=300, 400*1.5=600, 100*1.5=150 -> 2250
        (
            Usage(prompt_tokens=1000, cached_tokens=200, completion_tokens=500, reasoning_tokens=100),
            1500,
            DEFAULT_PARAMS,
            (1200, 300, 600, 150, 2250),
        ),
        # cached at 0.25x (2500): 200*0.25 = 50; the rest unchanged -> 800+50+400+100 = 1350
        (
            Usage(prompt_tokens=1000, cached_tokens=200, completion_tokens=500, reasoning_tokens=100),
            1000,
            NetworkParams(cached_multiplier=2500),
            (800, 50, 400, 100, 1350),
        ),
        # floors per class: 7 prompt tokens at 1.001x (1001) = 7.007 -> 7; 3 completion at 2.5x -> 7.5 -> 7
        (
            Usage(prompt_tokens=7, completion_tokens=3),
            1001,
            NetworkParams(completion_multiplier=24975),
            (7, 0, 7, 0, 14),
        ),
        # coefficient 0 (a free worker) meters nothing
        (Usage(prompt_tokens=50, completion_tokens=50), 0, DEFAULT_PARAMS, (0, 0, 0, 0, 0)),
        # 1 token at 0.5x floors to 0: 1*500*10000 // 10^7 = 0
        (Usage(prompt_tokens=1, completion_tokens=0), 500, DEFAULT_PARAMS, (0, 0, 0, 0, 0)),
    ],
)
def test_adjusted_tokens_table(
    usage: Usage, coefficient: int, params: NetworkParams, expected: tuple[int, int, int, int, int]
) -> None:
    adj = adjusted_tokens(usage, coefficient, params)
    assert (adj.prompt, adj.cached, adj.completion, adj.reasoning, adj.total) == expected


def test_exact_integers_at_sizes_where_floats_round() -> None:
    # 10^17 tokens at 1.0x: a double cannot hold 10^17 + 1 exactly; integers can.
    adj = adjusted_tokens(Usage(prompt_tokens=10**17 + 1, completion_tokens=0), 1000, DEFAULT_PARAMS)
    assert adj.total == 10**17 + 1


@given(
    p=st.integers(0, 10**9),
    o=st.integers(0, 10**9),
    coefficient=st.integers(0, 10**6),
)
def test_total_is_sum_and_monotone_in_coefficient(p: int, o: int, coefficient: int) -> None:
    usage = Usage(prompt_tokens=p, completion_tokens=o)
    adj = adjusted_tokens(usage, coefficient, DEFAULT_PARAMS)
    assert adj.total == adj.prompt + adj.cached + adj.completion + adj.reasoning
    assert adjusted_tokens(usage, coefficient + 1, DEFAULT_PARAMS).total >= adj.total


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prompt_tokens": -1, "completion_tokens": 0},
        {"prompt_tokens": 10, "completion_tokens": 0, "cached_tokens": 11},
        {"prompt_tokens": 0, "completion_tokens": 5, "reasoning_tokens": 6},
    ],
)
def test_bad_usage_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(PaymentError):
        Usage(**kwargs)


def test_bad_coefficient_is_refused() -> None:
    with pytest.raises(PaymentError, match="coefficient"):
        adjusted_tokens(Usage(prompt_tokens=1, completion_tokens=1), 10**9, DEFAULT_PARAMS)


def test_bad_params_are_refused() -> None:
    with pytest.raises(PaymentError, match="worker_fee_per_token"):
        NetworkParams(price_per_token=20, worker_fee_per_token=21)
    with pytest.raises(PaymentError, match="price_per_token"):
        NetworkParams(price_per_token=0, worker_fee_per_token=0)


def test_reservation() -> None:
    # defaults: max_tokens 1000 + request estimate 200 at max_coefficient 4000 (4.0x) -> 4800
    assert reservation_tokens(1000, 200, 4000) == 4800
    # 333 * 1.5 = 499.5 -> 499
    assert reservation_tokens(333, 0, 1500) == 499


def test_the_reservation_counts_every_choice() -> None:
    # issue 12: max_tokens 4, n=100, a 103-byte body at 1.0x. Before, (4 + 103) * 1.0 = 107 tokens
    # (2,140 nanoTON) were reserved for 400 completion tokens served; now (4 * 100 + 103) = 503.
    assert completion_budget(4, 100) == 400
    assert reservation_tokens(completion_budget(4, 100), 103, 1000) == 503
    # legacy completions: best_of 5 > n 2 candidates of 16 tokens at 2.0x -> (80 + 0) * 2 = 160
    assert reservation_tokens(completion_budget(16, 5), 0, 2000) == 160
    assert completion_budget(7, 1) == 7  # one choice: the budget is max_tokens, as before


def test_choice_cap_splits_a_budget_over_the_choices() -> None:
    assert choice_cap(400, 100) == 4
    assert choice_cap(30, 4) == 7  # 28 tokens at most: never past the budget
    assert choice_cap(3, 4) == 0  # not one token for each choice
    assert choice_cap(0, 1) == 0


@given(st.integers(1, 10**6), st.integers(1, 128))
def test_choice_cap_inverts_the_budget(max_tokens: int, choices: int) -> None:
    budget = completion_budget(max_tokens, choices)
    assert choice_cap(budget, choices) == max_tokens


@given(st.integers(0, 10**9), st.integers(1, 128))
def test_choices_capped_never_exceed_the_budget(budget: int, choices: int) -> None:
    cap = choice_cap(budget, choices)
    assert cap * choices <= budget < (cap + 1) * choices


@pytest.mark.parametrize(
    "call",
    [
        lambda: completion_budget(0, 1),
        lambda: completion_budget(1, 0),
        lambda: choice_cap(-1, 1),
        lambda: choice_cap(10, 0),
        lambda: reservation_tokens(0, 100, 1000),  # nothing reserved for the answer: refused
        lambda: reservation_tokens(1, -1, 1000),
        lambda: reservation_tokens(1, 0, 10**9),
    ],
)
def test_budgets_and_reservations_refuse_impossible_numbers(call: Callable[[], int]) -> None:
    with pytest.raises(PaymentError):
        call()


@pytest.mark.parametrize(
    ("nano", "text"),
    [
        (16_000_000_000, "16"),
        (1_500, "0.0000015"),
        (111_111_112, "0.111111112"),
        (-2_500_000_000, "-2.5"),
        (0, "0"),
    ],
)
def test_format_ton(nano: int, text: str) -> None:
    assert format_ton(nano) == text
    assert parse_ton(text) == nano  # the one parser reads back exactly what the formatter wrote


@pytest.mark.parametrize(
    ("text", "why"), [("1.0000000001", "more than 9 decimals"), ("abc", "not an amount")]
)
def test_parse_ton_refuses_what_is_not_a_whole_nanoton(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_ton(text)
