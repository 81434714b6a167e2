"""Threshold rules and the client credit formula; each expected value is worked out in its comment."""

from __future__ import annotations

import pytest

from cocoon.payments.credit import ClientContractView, available_tokens
from cocoon.payments.params import NANO_PER_TON, NetworkParams
from cocoon.payments.thresholds import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    client_should_self_charge,
    client_top_up_nano,
    proxy_should_charge,
    proxy_should_pay,
    proxy_should_withdraw,
    worker_should_cash_out,
)

P = NetworkParams(price_per_token=20, worker_fee_per_token=19)
TON = NANO_PER_TON


@pytest.mark.parametrize(
    ("committed", "charged", "expected"),
    [
        (50_000_000, 0, True),  # 50M tokens * 20 = 1 TON exactly: charge
        (49_999_999, 0, False),  # 1 TON - 20 nanoTON
        (60_000_000, 10_000_001, False),  # uncharged 49,999,999
        (5, 5, False),
    ],
)
def test_proxy_charges_at_one_ton(committed: int, charged: int, expected: bool) -> None:
    assert proxy_should_charge(committed, charged, P, DEFAULT_THRESHOLDS) is expected


def test_zero_thresholds_move_any_positive_amount_only() -> None:
    eager = Thresholds(charge_nano=0, payout_nano=0, withdraw_nano=0)
    assert proxy_should_charge(1, 0, P, eager) and not proxy_should_charge(3, 3, P, eager)
    assert proxy_should_pay(1, 0, P, eager) and not proxy_should_pay(0, 0, P, eager)
    assert proxy_should_withdraw(1, eager) and not proxy_should_withdraw(0, eager)


def test_proxy_pays_workers_and_withdraws_at_ten_ton() -> None:
    # 10 TON / 19 nanoTON per token = 526,315,789.47 -> 526,315,790 tokens are needed
    assert not proxy_should_pay(526_315_789, 0, P, DEFAULT_THRESHOLDS)
    assert proxy_should_pay(526_315_790, 0, P, DEFAULT_THRESHOLDS)
    assert not proxy_should_withdraw(10 * TON - 1, DEFAULT_THRESHOLDS)
    assert proxy_should_withdraw(10 * TON, DEFAULT_THRESHOLDS)


@pytest.mark.parametrize(
    ("balance", "uncharged_tokens", "expected"),
    [
        (15 * TON, 0, 0),  # paid - used = 15 TON >= stake/2
        (8 * TON, 25_000_000, 0),  # 25M tokens * 20 = 0.5 TON used: 7.5 TON left = stake/2, not below
        (8 * TON, 25_000_001, 15 * TON),  # 20 nanoTON more used: below half the stake
        (7 * TON + TON // 2, 0, 0),  # exactly half the stake: no top-up
        (7 * TON + TON // 2 - 1, 0, 15 * TON),  # one nanoTON below half: add one stake
    ],
)
def test_client_tops_up_below_half_the_stake(balance: int, uncharged_tokens: int, expected: int) -> None:
    assert client_top_up_nano(balance, uncharged_tokens, 15 * TON, P) == expected


def test_client_self_charges_above_half_the_stake() -> None:
    # stake 15 TON: half is 7.5 TON = 375M tokens at 20
    assert not client_should_self_charge(375_000_000, 0, 15 * TON, P)
    assert client_should_self_charge(375_000_001, 0, 15 * TON, P)


def test_worker_cash_out_compares_nanoton_not_tokens() -> None:
    # The reference's rule would cash out at 10e9 *tokens*; ours at 10 TON of earnings = 526,315,790 tokens.
    assert worker_should_cash_out(526_315_790, 0, P, DEFAULT_THRESHOLDS, idle=False)
    assert not worker_should_cash_out(526_315_789, 0, P, DEFAULT_THRESHOLDS, idle=False)
    # idle: 0.2 TON / 19 = 10,526,315.8 -> 10,526,316 tokens
    assert worker_should_cash_out(10_526_316, 0, P, DEFAULT_THRESHOLDS, idle=True)
    assert not worker_should_cash_out(10_526_315, 0, P, DEFAULT_THRESHOLDS, idle=True)
    assert not worker_should_cash_out(5, 5, P, Thresholds(worker_idle_payout_nano=0), idle=True)


@pytest.mark.parametrize(
    ("view", "used", "reserved", "expected"),
    [
        # balance 3 TON (150M tokens), stake 1 TON (50M tokens), nothing charged: min(150M, 50M) = 50M
        (ClientContractView(3 * TON, TON, 0), 0, 0, 50_000_000),
        # 10M used off chain, 5M reserved: 50M - 5M - 10M
        (ClientContractView(3 * TON, TON, 0), 10_000_000, 5_000_000, 35_000_000),
        # 40M already charged on chain: paid = 150M + 40M, cap = 40M + 50M -> 90M - 60M used total
        (ClientContractView(3 * TON, TON, 40_000_000), 60_000_000, 0, 30_000_000),
        # balance below the stake: the balance limits (0.2 TON = 10M tokens)
        (ClientContractView(TON // 5, TON, 0), 0, 0, 10_000_000),
        # overdrawn
        (ClientContractView(TON // 5, TON, 0), 12_000_000, 0, -2_000_000),
        # a closing contract gets no credit
        (ClientContractView(3 * TON, TON, 0, state=1), 0, 0, 0),
    ],
)
def test_available_tokens(view: ClientContractView, used: int, reserved: int, expected: int) -> None:
    assert available_tokens(view, used, reserved, P) == expected
