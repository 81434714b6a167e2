"""Leaving a proxy, decided purely: the client's retirement steps, when a params change moves a node,
which proxy contracts a worker refuses, and the checks of a proxy's final signed payout."""

from __future__ import annotations

import pytest

from cocoon.client.retire import RetireStep, refund_delay_s, retire_step
from cocoon.errors import PaymentError
from cocoon.node.params_move import params_moved
from cocoon.payments.counterpart import ChannelView, accept_update
from cocoon.payments.params import NetworkParams, Tokens
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.ton.address import Address
from cocoon.ton.data import ProxyData
from cocoon.ton.ops import Op
from cocoon.ton.params import make_params
from cocoon.ton.signed import WorkerLastPayoutSigned, WorkerPayoutSigned, public_key_of, sign_request
from cocoon.wire.messages import PaymentUpdate
from cocoon.worker.leaving import GONE, attach_refusal, closing_reason, proxy_contract_state

SECRET = b"\x05" * 32
PROXY, CONTRACT = Address(0, b"\x01" * 32), Address(0, b"\x02" * 32)


def test_the_client_waits_then_requests_its_refund_then_closes_after_unlock() -> None:
    assert refund_delay_s(NetworkParams(proxy_delay_before_close=600, client_delay_before_close=300)) == 150
    assert refund_delay_s(NetworkParams(proxy_delay_before_close=10, client_delay_before_close=300)) == 0
    assert retire_step(0, 0, now=149, refund_at=150) is RetireStep.WAIT  # the proxy may still grant it
    assert retire_step(0, 0, now=150, refund_at=150) is RetireStep.REQUEST_REFUND
    assert retire_step(1, 450, now=449, refund_at=150) is RetireStep.WAIT  # locked
    assert retire_step(1, 450, now=450, refund_at=150) is RetireStep.CLOSE
    assert retire_step(2, 450, now=0, refund_at=150) is RetireStep.DONE  # the proxy granted the refund


def snapshot(version: int, price: int) -> RegistrySnapshot:
    params = make_params(
        proxy_code=None, worker_code=None, client_code=None, params_version=version, price_per_token=price
    )
    return RegistrySnapshot(PROXY, None, 7, params, {}, 0, frozenset(), frozenset(), frozenset())


def test_only_a_rise_of_params_version_moves_a_node() -> None:
    assert params_moved(snapshot(1, 20), snapshot(1, 20)) is None
    assert params_moved(snapshot(2, 20), snapshot(1, 20)) is None  # an older read: never back
    why = params_moved(snapshot(1, 20), snapshot(2, 31))
    assert why is not None and "params_version rose 1 -> 2" in why and "price 20 -> 31" in why


def proxy_data(state: int, version: int) -> ProxyData:
    params = make_params(proxy_code=None, worker_code=None, client_code=None, params_version=version)
    return ProxyData(PROXY, 1, PROXY, state, 0, 0, 0, params)


def test_a_worker_refuses_closing_left_and_other_params_proxy_contracts() -> None:
    ours = make_params(proxy_code=None, worker_code=None, client_code=None, params_version=2)
    assert attach_refusal(proxy_data(0, 2), ours, None) is None
    assert "closing" in (attach_refusal(proxy_data(1, 2), ours, None) or "")
    assert "was left" in (attach_refusal(proxy_data(0, 2), ours, "params moved") or "")
    assert "params version 1" in (attach_refusal(proxy_data(0, 1), ours, None) or "")
    states = [proxy_contract_state(proxy_data(n, 2).to_cell()) for n in range(3)]
    assert states == [0, 1, 2] and proxy_contract_state(None) == GONE
    assert closing_reason(0, PROXY) is None
    assert "is closing" in (closing_reason(1, PROXY) or "")
    assert "is closed" in (closing_reason(2, PROXY) or "")
    assert "gone" in (closing_reason(GONE, PROXY) or "")


def update(op: int, tokens: int, secret: bytes = SECRET, target: Address = CONTRACT) -> PaymentUpdate:
    signed = sign_request(secret, op, query_id=tokens, target=target, new_tokens=tokens)
    return PaymentUpdate("w", tokens, tokens, tokens, signed.to_cell().to_boc())


def channel() -> ChannelView:
    return ChannelView(PROXY, public_key_of(SECRET), CONTRACT)


def accept(ch: ChannelView, u: PaymentUpdate) -> bool:
    return accept_update(ch, u, WorkerPayoutSigned, WorkerLastPayoutSigned)


def test_a_final_payout_is_checked_like_a_regular_one_and_is_the_last() -> None:
    regular, last = Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED, Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED
    ch = channel()
    assert accept(ch, update(regular, 100)) and not ch.signed_final
    assert accept(ch, update(last, 100)) and ch.signed_final  # the same total: it closes the contract
    assert ch.signed_tokens == Tokens(100)
    assert not accept(ch, update(last, 100))  # the same final payout again
    with pytest.raises(PaymentError, match="after its final"):
        accept(ch, update(regular, 120))
    for bad, match in [
        (update(last, 120, secret=b"\x06" * 32), "not valid"),
        (update(last, 120, target=PROXY), "not valid"),
        (update(last, 90), "rolled back"),  # counters first: a final payout cannot go down
    ]:
        fresh = channel()
        accept(fresh, update(regular, 100))
        with pytest.raises(PaymentError, match=match):
            accept(fresh, bad)
    fresh = channel()
    signed_less = PaymentUpdate("w", 140, 140, 140, update(last, 130).signed_payment)
    with pytest.raises(PaymentError, match="signed 130 tokens but reported 140"):
        accept(fresh, signed_less)
    # a channel that takes no final kind reads a last payout as a bad regular one
    with pytest.raises(PaymentError, match="does not decode"):
        accept_update(channel(), update(last, 100), WorkerPayoutSigned)
