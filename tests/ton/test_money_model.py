"""The pure-Python money model (the oracle of the contract property test) follows the spec's rules."""

from __future__ import annotations

from money_model import CLOSED, CLOSING, MoneyModel, Rules

from cocoon.ton.ops import TON, ExitCode

RULES = Rules(price=20, worker_fee=19, client_delay=300, proxy_delay=600, min_client_stake=TON)


def model() -> MoneyModel:
    return MoneyModel(RULES, proxy_base=0)


def test_charge_lowers_the_balance_by_tokens_times_price_and_floors_at_zero() -> None:
    m = model()
    assert m.top_up(3 * TON).ok
    assert m.charge(1000).ok
    assert m.client_balance == 3 * TON - 1000 * 20
    assert m.charge(10**9).ok
    assert m.client_balance == 0
    assert m.charge(10**9).exit_code == ExitCode.OLD_MESSAGE


def test_worker_payout_splits_the_price_between_worker_and_proxy() -> None:
    m = model()
    m.top_up(5 * TON)
    out = m.worker_payout(1000)
    assert out.payouts == {"worker_owner": 1000 * 19}
    assert m.proxy_balance == 1000 * (20 - 19)
    assert m.worker_payout(1000).exit_code == ExitCode.OLD_MESSAGE
    assert m.worker_payout(1000, last=True).ok
    assert m.worker_payout(2000).exit_code == ExitCode.CLOSED


def test_payout_beyond_the_proxy_funds_is_refused() -> None:
    m = model()
    assert m.worker_payout(10**6).exit_code == ExitCode.LOW_SMC_BALANCE
    assert m.worker_tokens == 10**6  # the worker contract keeps its new total; only the proxy refuses
    assert m.proxy_balance == 0


def test_refund_path_normal_closing_closed() -> None:
    m = model()
    m.top_up(3 * TON)
    m.increase_stake(5 * TON)
    out = m.request_refund(now=1000)
    assert m.client_state == CLOSING and out.payouts == {"client_owner": 2 * TON}
    assert m.request_refund(now=1000 + 299).exit_code == ExitCode.NOT_UNLOCKED_YET
    out = m.request_refund(now=1000 + 300)
    assert m.client_state == CLOSED and out.payouts == {"client_owner": TON}
    assert m.proxy_stake == 4 * TON
    assert m.request_refund(now=10**6).exit_code == ExitCode.CLOSED


def test_withdraw_returns_the_balance_above_the_stake() -> None:
    m = model()
    assert m.withdraw().exit_code == ExitCode.LOW_BALANCE
    m.top_up(TON + 7)
    assert m.withdraw().payouts == {"client_owner": 7}
    assert m.client_balance == TON
