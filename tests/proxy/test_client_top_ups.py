"""The client's automatic top-ups send one top-up per need, on the in-process local chain.

On a real chain a message the wallet returned from (its external included) lands on the contract seconds
later. :class:`SlowLanding` plays that: every message is "included" at once but held until the test lands
it, and the opening's message can be held inside ``send`` too, to run an upkeep round or a second opening
while the first waits on the chain. Each test fails on an upkeep that tops up whenever the balance it
reads is low."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_channels_onchain import CLIENT_WALLET, KEY
from test_onchain import FaucetSender, World

from cocoon.client.payments import ClientPayments
from cocoon.clock import FakeClock
from cocoon.payments.params import Nano
from cocoon.payments.top_up import LAND_TIMEOUT_S
from cocoon.proxy.ledger import Ledger
from cocoon.ton.address import Address
from cocoon.ton.data import ClientData
from cocoon.ton.ops import TON, Op
from cocoon.wallet.sender import OutMessage

STAKE = TON  # the world's min_client_stake
FIRST = TON // 4  # the first top-up of these clients: under half a stake, so the upkeep tops up
TOP_UPS = {Op.EXT_CLIENT_TOP_UP, Op.OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP}


def op_of(message: OutMessage) -> int | None:
    if message.body is None:
        return None
    cs = message.body.begin_parse()
    return int(cs.preload_uint(32)) if cs.remaining_bits >= 32 else None


class SlowLanding(FaucetSender):
    """Records every message handed to it; while ``holding``, keeps them off the chain until `land`
    (sent, not landed yet); ``gate`` (when set) keeps the opening's message inside ``send``."""

    def __init__(self, world: World) -> None:
        super().__init__(world.local, CLIENT_WALLET)
        self.handed: list[OutMessage] = []
        self.held: list[OutMessage] = []
        self.holding = False
        self.gate: asyncio.Event | None = None
        self.at_gate = asyncio.Event()

    async def send_many(self, messages: Sequence[OutMessage]) -> None:
        self.handed.extend(messages)
        if self.gate is not None and any(
            op_of(msg) == Op.OWNER_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP for msg in messages
        ):
            self.at_gate.set()
            await self.gate.wait()
        if self.holding:
            self.held.extend(messages)
        else:
            await super().send_many(messages)

    async def land(self) -> None:
        held, self.held = self.held, []
        await super().send_many(held)

    def top_ups(self) -> list[int]:
        """The amounts (value less the op's attachment) of every top-up handed over so far."""
        return [msg.value for msg in self.handed if op_of(msg) in TOP_UPS]


class Client:
    def __init__(self, world: World, proxy: Address) -> None:
        self.world, self.proxy = world, proxy
        self.sender = SlowLanding(world)
        self.payments = ClientPayments(
            world.chain, self.sender, world.params, b"\x09" * 32, top_up_nano=FIRST
        )
        self.clock = FakeClock()
        self.payments.clock = self.clock

    def data(self) -> ClientData:
        (channel,) = self.payments.channels.values()
        state = self.world.local.account(channel.contract)
        assert state.data is not None
        return ClientData.from_cell(state.data)


@pytest.fixture
async def client(tmp_path: Path) -> Client:
    world = World(tmp_path)
    settlement = world.settlement(Ledger(world.db))
    await settlement.start()
    await settlement.wait_ready(5)
    return Client(world, settlement.contract)


async def opened(client: Client) -> None:
    await client.payments.open(client.proxy, KEY)
    assert client.data().balance == FIRST and len(client.sender.top_ups()) == 1


async def test_an_upkeep_round_while_the_opening_waits_on_the_chain_adds_no_top_up(client: Client) -> None:
    client.sender.gate = asyncio.Event()
    opening = asyncio.create_task(client.payments.open(client.proxy, KEY))
    await client.sender.at_gate.wait()  # deployed (balance 0), its secret and first top-up in the wallet
    await client.payments.maintain()
    client.sender.gate.set()
    await opening
    assert len(client.sender.top_ups()) == 1
    assert client.data().balance == FIRST


async def test_a_second_opening_while_the_first_waits_shares_it(client: Client) -> None:
    client.sender.gate = asyncio.Event()
    first = asyncio.create_task(client.payments.open(client.proxy, KEY))
    await client.sender.at_gate.wait()
    second = asyncio.create_task(client.payments.open(client.proxy, KEY))  # a reconnect, another address
    await asyncio.sleep(0)
    client.sender.gate.set()
    assert await first is await second
    assert len(client.sender.top_ups()) == 1 and len(client.sender.handed) == 2  # one deployment, one top-up
    assert client.data().balance == FIRST


async def test_a_reopening_before_the_opening_landed_sends_it_once(client: Client) -> None:
    client.sender.holding = True
    await client.payments.open(client.proxy, KEY)  # its deployment is sent, not landed yet
    await client.sender.land()
    client.sender.holding = True
    await client.payments.open(client.proxy, KEY)  # the proxy does not see us yet: the link reconnects
    assert len(client.sender.top_ups()) == 1  # the opening's message is sent, not landed yet
    await client.payments.open(client.proxy, KEY)  # and again
    await client.payments.maintain()  # and an upkeep round reads a deployed contract holding nothing
    assert len(client.sender.top_ups()) == 1
    assert client.payments.counters["top_ups_opening_skipped"] == 1
    await client.sender.land()
    assert client.data().balance == FIRST


async def test_two_rounds_before_a_top_up_lands_send_one(client: Client) -> None:
    await opened(client)
    client.sender.holding = True
    await client.payments.maintain()  # 0.25 TON < half a stake: one stake sent
    client.clock.advance(10)
    await client.payments.maintain()  # not landed yet: the same need
    assert client.sender.top_ups()[1:] == [STAKE + TON // 5]
    assert client.payments.counters["top_ups_in_flight_skipped"] == 1
    await client.sender.land()
    await client.payments.maintain()
    assert client.data().balance == FIRST + STAKE and len(client.sender.top_ups()) == 2
    (channel,) = client.payments.channels.values()
    assert channel.top_up is None  # seen landed


async def test_a_top_up_that_never_lands_is_sent_again_after_the_timeout(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    await opened(client)
    client.sender.holding = True
    await client.payments.maintain()
    client.sender.held.clear()  # lost: included, but it never reaches the contract
    client.clock.advance(LAND_TIMEOUT_S - 1)  # the default of land_timeout_s
    await client.payments.maintain()
    assert len(client.sender.top_ups()) == 2
    client.clock.advance(1)
    client.sender.holding = False
    await client.payments.maintain()
    assert len(client.sender.top_ups()) == 3 and client.data().balance == FIRST + STAKE
    assert client.payments.counters["top_ups_expired"] == 1
    assert "taking it as lost; sending it again" in caplog.text


async def test_a_top_up_asked_for_is_sent_and_the_upkeep_adds_none_on_top(client: Client) -> None:
    await opened(client)
    client.sender.holding = True
    (channel,) = client.payments.channels.values()
    await client.payments.top_up(channel, Nano(2 * TON))  # asked for while the balance is low
    await client.payments.maintain()
    assert client.sender.top_ups()[1:] == [2 * TON + TON // 5]
    await client.payments.maintain()  # an automatic one in flight...
    await client.payments.top_up(channel, Nano(TON))  # ...does not hold back one asked for
    assert client.sender.top_ups()[1:] == [2 * TON + TON // 5, TON + TON // 5]
    await client.sender.land()
    await client.payments.maintain()
    assert client.data().balance == FIRST + 3 * TON and len(client.sender.top_ups()) == 3
    assert client.payments.stats()["top_ups_in_flight_skipped"] == 2


def deployments(sender: SlowLanding) -> int:
    return sum(1 for msg in sender.handed if msg.state_init is not None)


async def test_a_reopening_before_the_deployment_landed_does_not_deploy_again(client: Client) -> None:
    """The link reconnects while the deployment is still on its way (the proxy does not see the contract
    yet): no second deployment (0.8 TON) until it has had ``land_timeout_s`` to land, then one more."""
    client.sender.holding = True
    await client.payments.open(client.proxy, KEY)  # deployment sent, not landed
    client.clock.advance(5)
    await client.payments.open(client.proxy, KEY)
    assert deployments(client.sender) == 1
    assert client.payments.counters["deploys_in_flight_skipped"] == 1
    client.sender.held.clear()  # lost on the way
    client.clock.advance(LAND_TIMEOUT_S)
    client.sender.holding = False
    await client.payments.open(client.proxy, KEY)  # given up as lost: sent again, and it lands
    assert deployments(client.sender) == 2 and client.payments.counters["deploys"] == 2
    assert client.data().balance == FIRST and len(client.sender.top_ups()) == 1
