"""Worker contract on the local chain: signed payouts turn into exact payments by the proxy contract."""

from __future__ import annotations

import pytest
from contract_env import (
    PRICE,
    WORKER_FEE,
    Net,
    addr,
    as_address,
    deploy_net,
    failure,
    messages_to,
    paid_to,
    tx_of,
)

from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.cells import begin_cell
from cocoon.ton.chain import Transaction
from cocoon.ton.data import ProxyData, WorkerData
from cocoon.ton.ops import TON, ExitCode, Op

PAYOUT, LAST = Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED, Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED


@pytest.fixture
def net() -> Net:
    return deploy_net()


def payout(
    net: Net,
    tokens: int,
    *,
    op: int = PAYOUT,
    value: int = TON // 2,
    query_id: int = 7,
    target: Address | None = None,
    secret: bytes | None = None,
) -> list[Transaction]:
    body = net.signed(op, target or net.worker, tokens=tokens, query_id=query_id, secret=secret)
    return net.send(net.stranger, net.worker, value, body)


def proxy_data(net: Net) -> ProxyData:
    return ProxyData.from_cell(net.chain.account(net.proxy).data)


def test_deploy_and_getter(net: Net) -> None:
    owner, proxy, key, state, tokens = net.get(net.worker, "get_cocoon_worker_data")
    assert (as_address(owner), as_address(proxy)) == (net.worker_owner, net.proxy)
    assert (key, state, tokens) == (net.proxy_key, 0, 0)
    raw = WorkerData.from_cell(net.chain.account(net.worker).data)
    assert (raw.owner, raw.proxy_contract) == (net.worker_owner, net.proxy)


def test_payout_pays_exactly_d_times_worker_fee_and_credits_the_proxy(net: Net) -> None:
    trace = payout(net, 1000)
    assert failure(trace) is None
    assert paid_to(trace, net.worker_owner) == 1000 * WORKER_FEE
    assert proxy_data(net).balance == 1000 * (PRICE - WORKER_FEE)
    trace = payout(net, 1500, query_id=8)
    assert paid_to(trace, net.worker_owner) == 500 * WORKER_FEE
    assert proxy_data(net).balance == 1500 * (PRICE - WORKER_FEE)
    assert WorkerData.from_cell(net.chain.account(net.worker).data).tokens == 1500
    # the change of both hops goes back to the submitter
    assert len(messages_to(trace, net.stranger, Op.EXCESSES)) == 1


def test_replayed_or_older_total_is_refused(net: Net) -> None:
    assert failure(payout(net, 1000)) is None
    assert failure(payout(net, 1000)) == ExitCode.OLD_MESSAGE
    assert failure(payout(net, 999, query_id=9)) == ExitCode.OLD_MESSAGE


def test_bad_signature_foreign_target_and_mismatched_payload(net: Net) -> None:
    assert failure(payout(net, 10, secret=b"\x01" * 32)) == ExitCode.BAD_SIGNATURE
    assert failure(payout(net, 10, target=addr("other-worker"))) == ExitCode.EXPECTED_MY_ADDRESS
    # a payout signature re-wrapped under the last-payout op: the inner op does not match
    rest = net.signed(PAYOUT, net.worker, tokens=10).begin_parse().skip_bits(32)
    rewrapped = begin_cell().store_uint(LAST, 32).store_slice(rest).end_cell()
    trace = net.send(net.stranger, net.worker, TON // 2, rewrapped)
    assert failure(trace) == ExitCode.SIGNED_MSG_FORMAT_MISMATCH


def test_too_little_value_is_refused(net: Net) -> None:
    assert failure(payout(net, 10, value=TON // 10)) == ExitCode.LOW_MSG_VALUE


def test_last_payout_closes_and_allows_an_equal_total(net: Net) -> None:
    assert failure(payout(net, 100)) is None
    trace = payout(net, 100, op=LAST, query_id=2)
    assert failure(trace) is None
    assert paid_to(trace, net.worker_owner) == 0
    assert net.get(net.worker, "get_cocoon_worker_data")[3] == 2
    assert failure(payout(net, 200, query_id=3)) == ExitCode.CLOSED


def test_register_is_owner_only_and_leaves_a_one_nanoton_note_at_the_proxy(net: Net) -> None:
    body = m.OwnerWorkerRegister(query_id=5, excess_to=net.worker_owner).to_cell()
    assert failure(net.send(net.stranger, net.worker, TON // 2, body)) == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
    trace = net.send(net.worker_owner, net.worker, TON // 2, body)
    note = tx_of(trace, net.proxy)
    assert note.compute_skipped and note.in_msg is not None and note.in_msg.value == 1
    parsed = note.in_msg.parsed
    assert isinstance(parsed, m.WorkerProxyRequest) and parsed.owner == net.worker_owner
    assert any(tx.lt == note.lt for tx in net.chain.transactions(net.proxy))


def test_worker_request_from_a_non_worker_is_refused_by_the_proxy(net: Net) -> None:
    payload = m.WorkerPayoutPayload(worker_part=TON, proxy_part=0, excess_to=net.stranger).to_cell()
    forged = m.WorkerProxyRequest(query_id=1, owner=net.worker_owner, state=0, tokens=10**6, payload=payload)
    trace = net.send(net.stranger, net.proxy, TON // 2, forged.to_cell())
    assert failure(trace) == ExitCode.CONTRACT_ADDRESS_MISMATCH
    assert paid_to(trace, net.worker_owner) == 0
