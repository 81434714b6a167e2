"""The money rules: a pure-Python model (``money_model``) and the contracts running on the local chain.

The model's own tests pin the rules; the property test drives random operation sequences through both
and requires the same exit codes, the same exact payouts, the same contract state, and conservation of
TON up to the fees the transactions report."""

from __future__ import annotations

from contract_env import CLIENT_DELAY, Net, deploy_net, failure, paid_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money_model import CLOSED, CLOSING, MoneyModel, Outcome, Rules
from pytoniq_core import Transaction as PtTransaction

from cocoon.ton import messages as m
from cocoon.ton.cells import cell_from_boc
from cocoon.ton.chain import Transaction
from cocoon.ton.data import ClientData, ProxyData, WorkerData
from cocoon.ton.ops import FLOOR_ROOT_PROXY, TON, ExitCode, Op

RULES = Rules(price=20, worker_fee=19, client_delay=300, proxy_delay=600, min_client_stake=TON)
"""The params ``contract_env.deploy_net`` deploys with."""


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


# ---- the contracts and the model agree on random operation sequences --------------------------------

Action = tuple[str, int]

ACTIONS = st.one_of(
    st.tuples(st.just("top_up"), st.integers(1, 3 * TON)),
    st.tuples(st.sampled_from(["charge", "grant_refund", "payout", "last_payout"]), st.integers(0, 10**8)),
    st.tuples(st.sampled_from(["withdraw", "request_refund", "proxy_withdraw", "proxy_close"]), st.just(0)),
    st.tuples(st.just("stake"), st.integers(0, 2 * TON)),
    st.tuples(st.just("advance"), st.integers(1, 2 * CLIENT_DELAY)),
)


def run_on_chain(net: Net, action: Action, model: MoneyModel) -> list[Transaction]:
    """Apply ``action`` to the contracts (totals are relative to what the model has recorded)."""
    kind, n = action
    if kind == "top_up":
        body = m.ExtClientTopUp(query_id=1, amount=n, excess_to=None).to_cell()
        return net.send(net.client_owner, net.client, n + TON // 2, body)
    if kind in ("charge", "grant_refund"):
        op = Op.EXT_CLIENT_CHARGE_SIGNED if kind == "charge" else Op.EXT_CLIENT_GRANT_REFUND_SIGNED
        body = net.signed(op, net.client, tokens=model.tokens_used + n)
        return net.send(net.stranger, net.client, TON // 2, body)
    if kind in ("payout", "last_payout"):
        op = (
            Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED
            if kind == "payout"
            else Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED
        )
        body = net.signed(op, net.worker, tokens=model.worker_tokens + n)
        return net.send(net.stranger, net.worker, TON // 2, body)
    if kind in ("withdraw", "request_refund"):
        cls = m.OwnerClientWithdraw if kind == "withdraw" else m.OwnerClientRequestRefund
        return net.send(net.client_owner, net.client, TON // 2, cls(query_id=1, excess_to=None).to_cell())
    if kind == "proxy_withdraw":
        return net.send(
            net.stranger, net.proxy, TON // 5, m.ExtProxyPayoutRequest(query_id=1, excess_to=None).to_cell()
        )
    if kind == "proxy_close":
        body = m.OwnerProxyClose(query_id=1, excess_to=None).to_cell()
        return net.send(net.proxy_owner, net.proxy, TON // 5, body)
    if kind == "stake":
        body = m.ExtProxyIncreaseStake(query_id=1, grams=n, excess_to=None).to_cell()
        return net.send(net.stranger, net.proxy, n + TON // 5, body)
    raise AssertionError(kind)


def run_on_model(model: MoneyModel, action: Action, now: int) -> Outcome:
    kind, n = action
    steps = {
        "top_up": lambda: model.top_up(n),
        "charge": lambda: model.charge(model.tokens_used + n),
        "grant_refund": lambda: model.grant_refund(model.tokens_used + n),
        "payout": lambda: model.worker_payout(model.worker_tokens + n),
        "last_payout": lambda: model.worker_payout(model.worker_tokens + n, last=True),
        "withdraw": model.withdraw,
        "request_refund": lambda: model.request_refund(now),
        "proxy_withdraw": model.proxy_withdraw,
        "proxy_close": lambda: model.proxy_close(now),
        "stake": lambda: model.increase_stake(n),
    }
    return steps[kind]()


def forwarding_fees(trace: list[Transaction]) -> int:
    """Forwarding fees of the internal messages a trace sent (not part of ``total_fees``)."""
    total = 0
    for tx in trace:
        raw = PtTransaction.deserialize(cell_from_boc(tx.boc).begin_parse())
        total += sum(msg.info.fwd_fee for msg in raw.out_msgs if msg.is_internal)
    return total


def assert_same_state(net: Net, model: MoneyModel) -> None:
    client = ClientData.from_cell(net.chain.account(net.client).data)
    worker = WorkerData.from_cell(net.chain.account(net.worker).data)
    proxy = ProxyData.from_cell(net.chain.account(net.proxy).data)
    assert (client.state, client.balance, client.stake, client.tokens_used) == (
        model.client_state,
        model.client_balance,
        model.client_stake,
        model.tokens_used,
    )
    assert (worker.state, worker.tokens) == (model.worker_state, model.worker_tokens)
    assert (proxy.state, proxy.balance, proxy.stake) == (
        model.proxy_state,
        model.proxy_balance,
        model.proxy_stake,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTIONS, min_size=1, max_size=10))
def test_contracts_agree_with_the_money_model(actions: list[Action]) -> None:
    net = deploy_net()
    accounts = [net.root, net.proxy, net.worker, net.client, net.proxy_owner, net.worker_owner]
    accounts += [net.client_owner, net.stranger]
    start_total = sum(net.chain.balance(a) for a in accounts)
    proxy_start = net.chain.balance(net.proxy)
    model = MoneyModel(RULES, proxy_base=proxy_start - FLOOR_ROOT_PROXY)
    injected = fees = 0
    for action in actions:
        if action[0] == "advance":
            net.chain.advance(action[1])
            continue
        # the proxy's base balance only drifts by the 1-nanoTON notes and their storage fees
        drift = proxy_start + model.funds - net.chain.balance(net.proxy)
        assert abs(drift) < TON // 1000
        model.proxy_base = proxy_start - drift - FLOOR_ROOT_PROXY
        trace = run_on_chain(net, action, model)
        expected = run_on_model(model, action, net.chain.now)
        assert failure(trace) == (expected.exit_code or None), action
        owners = {
            "client_owner": net.client_owner,
            "worker_owner": net.worker_owner,
            "proxy_owner": net.proxy_owner,
        }
        paid = {name: paid_to(trace, owner) for name, owner in owners.items()}
        assert paid == {name: expected.payouts.get(name, 0) for name in owners}, action
        assert_same_state(net, model)
        injected += trace[0].in_msg.value if trace[0].in_msg is not None else 0
        fees += sum(tx.total_fees for tx in trace) + forwarding_fees(trace)
    # no nanoTON appears or disappears: what came in, minus the fees the transactions report
    assert sum(net.chain.balance(a) for a in accounts) == start_total + injected - fees
