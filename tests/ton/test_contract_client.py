"""Client contract on the local chain: top-ups, signed charges, withdraw and the close state machine."""

from __future__ import annotations

import pytest
from contract_env import CLIENT_DELAY, PRICE, Net, addr, as_address, deploy_net, failure, paid_to, tx_of

from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.chain import Transaction
from cocoon.ton.data import ClientData
from cocoon.ton.ops import TON, ExitCode, Op

CHARGE, GRANT_REFUND = Op.EXT_CLIENT_CHARGE_SIGNED, Op.EXT_CLIENT_GRANT_REFUND_SIGNED


@pytest.fixture
def net() -> Net:
    return deploy_net()


def client(net: Net) -> ClientData:
    return ClientData.from_cell(net.chain.account(net.client).data)


def top_up(
    net: Net, amount: int, *, value: int | None = None, src: Address | None = None
) -> list[Transaction]:
    body = m.ExtClientTopUp(query_id=1, amount=amount, excess_to=src or net.client_owner).to_cell()
    return net.send(src or net.client_owner, net.client, amount + TON // 2 if value is None else value, body)


def signed(
    net: Net,
    op: int,
    tokens: int,
    *,
    query_id: int = 7,
    target: Address | None = None,
    secret: bytes | None = None,
) -> list[Transaction]:
    body = net.signed(op, target or net.client, tokens=tokens, query_id=query_id, secret=secret)
    return net.send(net.stranger, net.client, TON // 2, body)


def owner_op(
    net: Net, body: m.Body, *, src: Address | None = None, value: int = TON // 2
) -> list[Transaction]:
    return net.send(src or net.client_owner, net.client, value, body.to_cell())


def test_deploy_and_getter(net: Net) -> None:
    values = net.get(net.client, "get_cocoon_client_data")
    assert (as_address(values[0]), as_address(values[1])) == (net.client_owner, net.proxy)
    assert values[2:] == [net.proxy_key, 0, 0, net.params.min_client_stake, 0, 0, 0]


def test_top_up_moves_the_ton_to_the_proxy_and_counts_it(net: Net) -> None:
    before = net.chain.balance(net.proxy)
    assert failure(top_up(net, 3 * TON)) is None
    assert client(net).balance == 3 * TON
    assert net.chain.balance(net.proxy) - before == 3 * TON  # the proxy keeps exactly the top-up
    assert failure(top_up(net, 3 * TON, value=3 * TON + TON // 20)) == ExitCode.LOW_MSG_VALUE


def test_charge_lowers_the_balance_by_tokens_times_price(net: Net) -> None:
    top_up(net, 3 * TON)
    trace = signed(net, CHARGE, 1000)
    assert failure(trace) is None
    assert (client(net).balance, client(net).tokens_used) == (3 * TON - 1000 * PRICE, 1000)
    note = tx_of(trace, net.proxy)  # the proxy's node sees the new state as a 1-nanoTON note
    assert note.compute_skipped and note.in_msg is not None and note.in_msg.value == 1
    assert (
        isinstance(note.in_msg.parsed, m.ClientProxyRequest) and note.in_msg.parsed.client.tokens_used == 1000
    )
    assert failure(signed(net, CHARGE, 10**12, query_id=8)) is None
    assert client(net).balance == 0  # floored at zero


def test_signed_ops_refuse_replays_bad_signatures_and_foreign_targets(net: Net) -> None:
    assert failure(signed(net, CHARGE, 100)) is None
    assert failure(signed(net, CHARGE, 100)) == ExitCode.OLD_MESSAGE
    assert failure(signed(net, GRANT_REFUND, 99, query_id=3)) == ExitCode.OLD_MESSAGE
    assert failure(signed(net, CHARGE, 200, secret=b"\x02" * 32)) == ExitCode.BAD_SIGNATURE
    assert failure(signed(net, GRANT_REFUND, 200, secret=b"\x02" * 32)) == ExitCode.BAD_SIGNATURE
    assert failure(signed(net, CHARGE, 200, target=addr("other-client"))) == ExitCode.EXPECTED_MY_ADDRESS
    assert failure(signed(net, GRANT_REFUND, 200, target=addr("other"))) == ExitCode.EXPECTED_MY_ADDRESS


def test_owner_ops_refuse_strangers(net: Net) -> None:
    bodies: list[m.Body] = [
        m.OwnerClientRegister(query_id=1, nonce=5, excess_to=None),
        m.OwnerClientChangeSecretHash(query_id=1, secret_hash=9, excess_to=None),
        m.OwnerClientIncreaseStake(query_id=1, new_stake=2 * TON, excess_to=None),
        m.OwnerClientWithdraw(query_id=1, excess_to=None),
        m.OwnerClientRequestRefund(query_id=1, excess_to=None),
        m.OwnerClientChangeSecretHashAndTopUp(query_id=1, amount=TON, secret_hash=9, excess_to=None),
    ]
    for body in bodies:
        assert (
            failure(owner_op(net, body, src=net.stranger, value=2 * TON))
            == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
        )


def test_notes_register_secret_and_stake(net: Net) -> None:
    trace = owner_op(net, m.OwnerClientRegister(query_id=1, nonce=77, excess_to=None))
    note = tx_of(trace, net.proxy)
    assert (
        note.compute_skipped
        and note.in_msg is not None
        and isinstance(note.in_msg.parsed, m.ClientProxyRequest)
    )
    payload = m.payload_of(note.in_msg.parsed)
    assert isinstance(payload, m.ClientRegisterPayload) and payload.nonce == 77
    assert (
        failure(owner_op(net, m.OwnerClientChangeSecretHash(query_id=2, secret_hash=42, excess_to=None)))
        is None
    )
    assert client(net).secret_hash == 42
    stake = m.OwnerClientIncreaseStake(query_id=3, new_stake=2 * TON, excess_to=None)
    assert failure(owner_op(net, stake)) is None
    assert client(net).stake == 2 * TON
    assert failure(owner_op(net, stake)) == ExitCode.OLD_MESSAGE  # the stake only grows
    trace = owner_op(
        net,
        m.OwnerClientChangeSecretHashAndTopUp(query_id=4, amount=TON, secret_hash=43, excess_to=None),
        value=2 * TON,
    )
    assert failure(trace) is None
    assert (client(net).secret_hash, client(net).balance) == (43, TON)


def test_withdraw_returns_the_balance_above_the_stake(net: Net) -> None:
    withdraw = m.OwnerClientWithdraw(query_id=1, excess_to=None)
    assert failure(owner_op(net, withdraw)) == ExitCode.LOW_BALANCE
    top_up(net, 3 * TON)
    assert failure(owner_op(net, withdraw, value=TON // 20)) == ExitCode.LOW_MSG_VALUE
    refund = m.OwnerClientRequestRefund(query_id=1, excess_to=None)
    assert failure(owner_op(net, refund, value=TON // 20)) == ExitCode.LOW_MSG_VALUE
    trace = owner_op(net, withdraw)
    assert failure(trace) is None
    assert paid_to(trace, net.client_owner) == 2 * TON
    assert client(net).balance == TON
    # The proxy's node reads the refund it paid from its contract's transaction list.
    forwarded = tx_of(trace, net.proxy).in_msg.parsed
    assert isinstance(forwarded, m.ClientProxyRequest)
    refund = m.payload_of(forwarded)
    assert isinstance(refund, m.ClientRefundGrantedPayload)
    assert refund.coins == 2 * TON


def test_close_state_machine_normal_closing_closed(net: Net) -> None:
    top_up(net, 3 * TON)
    net.send(
        net.stranger,
        net.proxy,
        6 * TON,
        m.ExtProxyIncreaseStake(query_id=1, grams=5 * TON, excess_to=None).to_cell(),
    )
    refund = m.OwnerClientRequestRefund(query_id=1, excess_to=None)
    trace = owner_op(net, refund)
    assert failure(trace) is None
    assert client(net).state == 1 and client(net).unlock_ts == net.chain.now + CLIENT_DELAY
    assert paid_to(trace, net.client_owner) == 2 * TON  # above the stake: refunded at once
    net.chain.advance(CLIENT_DELAY - 1)
    assert failure(owner_op(net, refund)) == ExitCode.NOT_UNLOCKED_YET
    net.chain.advance(1)
    trace = owner_op(net, refund)
    assert failure(trace) is None
    assert client(net).state == 2
    assert paid_to(trace, net.client_owner) == TON  # the rest, paid from the proxy's stake
    assert net.get(net.proxy, "get_cocoon_proxy_data")[5] == 4 * TON
    assert failure(owner_op(net, refund)) == ExitCode.CLOSED
    assert failure(top_up(net, TON)) == ExitCode.CLOSED
    assert failure(signed(net, CHARGE, 5)) == ExitCode.CLOSED


def test_grant_refund_charges_closes_and_refunds_the_rest(net: Net) -> None:
    top_up(net, 3 * TON)
    trace = signed(net, GRANT_REFUND, 1000)
    assert failure(trace) is None
    assert paid_to(trace, net.client_owner) == 3 * TON - 1000 * PRICE
    assert (client(net).state, client(net).balance, client(net).tokens_used) == (2, 0, 1000)
    assert failure(signed(net, GRANT_REFUND, 1000, query_id=9)) == ExitCode.CLOSED


def test_client_request_from_a_non_client_is_refused_by_the_proxy(net: Net) -> None:
    snapshot = m.ClientStateSnapshot(state=0, balance=0, stake=0, tokens_used=0, secret_hash=0)
    payload = m.ClientRefundGrantedPayload(coins=TON, excess_to=net.stranger).to_cell()
    forged = m.ClientProxyRequest(query_id=1, owner=net.client_owner, client=snapshot, payload=payload)
    trace = net.send(net.stranger, net.proxy, TON // 2, forged.to_cell())
    assert failure(trace) == ExitCode.CONTRACT_ADDRESS_MISMATCH
