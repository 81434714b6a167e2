"""Proxy contract on the local chain: stake, withdraw, the close paths and the save-state log."""

from __future__ import annotations

import pytest
from contract_env import PROXY_DELAY, WORKER_FEE, Net, addr, as_address, deploy_net, failure, paid_to

from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, begin_cell, text_cell
from cocoon.ton.chain import Transaction
from cocoon.ton.data import ProxyData
from cocoon.ton.ops import TON, ExitCode, Op

CLOSE, COMPLETE = Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED


@pytest.fixture
def net() -> Net:
    return deploy_net()


def proxy(net: Net) -> ProxyData:
    return ProxyData.from_cell(net.chain.account(net.proxy).data)


def send(net: Net, body: Cell, *, src: Address | None = None, value: int = TON // 2) -> list[Transaction]:
    return net.send(src or net.stranger, net.proxy, value, body)


def signed(
    net: Net, op: int, *, query_id: int = 7, target: Address | None = None, secret: bytes | None = None
) -> list[Transaction]:
    return send(net, net.signed(op, target or net.proxy, query_id=query_id, secret=secret))


def earn_commission(net: Net, tokens: int) -> None:
    body = net.signed(Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED, net.worker, tokens=tokens)
    assert failure(net.send(net.stranger, net.worker, TON // 2, body)) is None


def test_deploy_and_getter(net: Net) -> None:
    values = net.get(net.proxy, "get_cocoon_proxy_data")
    assert (as_address(values[0]), as_address(values[2])) == (net.proxy_owner, net.root)
    p = net.params
    assert values[1] == net.proxy_key
    assert values[3:7] == [0, 0, 0, 0]  # state, balance, stake, unlock_ts
    assert values[7:] == [
        p.price_per_token,
        p.worker_fee_per_token,
        p.min_proxy_stake,
        p.min_client_stake,
        p.params_version,
    ]


def test_increase_stake_keeps_exactly_the_grams(net: Net) -> None:
    before = net.chain.balance(net.proxy)
    body = m.ExtProxyIncreaseStake(query_id=1, grams=2 * TON, excess_to=None).to_cell()
    assert failure(send(net, body, value=2 * TON + TON // 20)) == ExitCode.LOW_MSG_VALUE
    assert failure(send(net, body, value=2 * TON + TON // 5)) is None
    assert proxy(net).stake == 2 * TON
    assert net.chain.balance(net.proxy) - before == 2 * TON


def test_payout_request_sends_the_commission_to_the_owner(net: Net) -> None:
    earn_commission(net, 10_000)
    body = m.ExtProxyPayoutRequest(query_id=1, excess_to=None).to_cell()
    assert failure(send(net, body, value=TON // 20)) == ExitCode.LOW_MSG_VALUE
    trace = send(net, body)
    assert failure(trace) is None
    assert paid_to(trace, net.proxy_owner) == 10_000 * (net.params.price_per_token - WORKER_FEE)
    assert proxy(net).balance == 0


def test_text_withdraw_and_close_are_owner_only(net: Net) -> None:
    earn_commission(net, 500)
    assert failure(send(net, text_cell("w"))) == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
    assert failure(send(net, text_cell("c"))) == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
    assert failure(send(net, text_cell("x"), src=net.proxy_owner)) == ExitCode.UNKNOWN_TEXT_OP
    trace = send(net, text_cell("w"), src=net.proxy_owner)
    assert paid_to(trace, net.proxy_owner) == 500
    assert failure(send(net, text_cell("c"), src=net.proxy_owner)) is None
    assert proxy(net).state == 1


def test_owner_close_then_complete_after_the_delay(net: Net) -> None:
    close = m.OwnerProxyClose(query_id=1, excess_to=None).to_cell()
    assert failure(send(net, close)) == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
    assert failure(signed(net, COMPLETE)) == ExitCode.NOT_UNLOCKED_YET  # not even closing yet
    assert failure(send(net, close, src=net.proxy_owner)) is None
    assert (proxy(net).state, proxy(net).unlock_ts) == (1, net.chain.now + PROXY_DELAY)
    assert failure(send(net, close, src=net.proxy_owner)) == ExitCode.CLOSED
    net.chain.advance(PROXY_DELAY - 1)
    assert failure(signed(net, COMPLETE)) == ExitCode.NOT_UNLOCKED_YET
    net.chain.advance(1)
    held = net.chain.balance(net.proxy)
    trace = signed(net, COMPLETE)
    assert failure(trace) is None
    assert proxy(net).state == 2
    assert net.chain.balance(net.proxy) == 0
    assert 0 < held + TON // 2 - paid_to(trace, net.proxy_owner) < TON // 100  # everything but the fees
    assert failure(signed(net, COMPLETE, query_id=8)) == ExitCode.CLOSED


def test_signed_close_checks_signature_target_and_payload(net: Net) -> None:
    assert failure(signed(net, CLOSE, secret=b"\x03" * 32)) == ExitCode.BAD_SIGNATURE
    assert failure(signed(net, CLOSE, target=addr("another-proxy"))) == ExitCode.EXPECTED_MY_ADDRESS
    body = net.signed(CLOSE, net.proxy, query_id=5)
    cs = body.begin_parse()
    cs.skip_bits(32 + 64)
    requeried = begin_cell().store_uint(CLOSE, 32).store_uint(6, 64).store_slice(cs).end_cell()
    assert failure(send(net, requeried)) == ExitCode.SIGNED_MSG_FORMAT_MISMATCH
    assert failure(signed(net, CLOSE)) is None
    assert proxy(net).state == 1


def test_closing_proxy_still_pays_last_payouts_but_takes_no_top_ups(net: Net) -> None:
    assert (
        failure(send(net, m.OwnerProxyClose(query_id=1, excess_to=None).to_cell(), src=net.proxy_owner))
        is None
    )
    body = net.signed(Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED, net.worker, tokens=100)
    trace = net.send(net.stranger, net.worker, TON // 2, body)
    assert paid_to(trace, net.worker_owner) == 100 * WORKER_FEE
    before = net.chain.balance(net.proxy)
    top_up = m.ExtClientTopUp(query_id=1, amount=TON, excess_to=net.client_owner).to_cell()
    trace = net.send(net.client_owner, net.client, 2 * TON, top_up)
    assert failure(trace) is None
    assert net.chain.balance(net.proxy) == before  # the top-up went back as change


def test_save_state_note_is_logged_in_the_transaction_list(net: Net) -> None:
    session = bytes(range(32))
    note = m.SaveState.make(query_id=3, seqno=41, session_hash=session).to_cell()
    trace = net.send(net.proxy_owner, net.proxy, 1, note)
    assert trace[0].compute_skipped
    logged = [tx for tx in net.chain.transactions(net.proxy) if tx.lt == trace[0].lt]
    assert len(logged) == 1 and logged[0].in_msg is not None
    parsed = logged[0].in_msg.parsed
    assert isinstance(parsed, m.SaveState)
    assert (parsed.seqno, parsed.session_hash) == (41, session)
    # with gas money the contract runs and returns at once (do_not_process), changing nothing
    before = proxy(net)
    trace = net.send(net.proxy_owner, net.proxy, TON // 10, note)
    assert failure(trace) is None and not trace[0].compute_skipped and not trace[0].out_msgs
    assert proxy(net) == before


def test_unknown_op_and_strict_parsing(net: Net) -> None:
    assert failure(send(net, begin_cell().store_uint(0x12345678, 32).store_uint(0, 64).end_cell())) == (
        ExitCode.UNKNOWN_OP
    )
    body = m.ExtProxyPayoutRequest(query_id=1, excess_to=None).to_cell()
    padded = begin_cell().store_cell(body).store_uint(1, 1).end_cell()
    assert failure(send(net, padded)) == ExitCode.MSG_FORMAT_MISMATCH


def test_signed_close_complete_checks_signature_and_target_before_time(net: Net) -> None:
    assert failure(signed(net, CLOSE)) is None
    net.chain.advance(PROXY_DELAY)
    assert failure(signed(net, COMPLETE, secret=b"\x03" * 32)) == ExitCode.BAD_SIGNATURE
    assert failure(signed(net, COMPLETE, target=addr("another-proxy"))) == ExitCode.EXPECTED_MY_ADDRESS
    assert failure(signed(net, CLOSE, query_id=9)) == ExitCode.CLOSED  # a second close request: wrong state
    assert proxy(net).state == 1
