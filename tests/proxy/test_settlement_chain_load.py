"""How many chain requests an idle proxy's settlement makes per minute with the default intervals,
counted by the chain adapter: one transaction read per ``chain_poll_interval_s`` and one account read
per ``settle_interval_s`` (the commission check), whatever the tick, within a key-less toncenter's
~60 requests/minute."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from test_onchain import CLIENT_OWNER, FEE, PRICE, PROXY_OWNER, SECRET, World, addr

from cocoon.clock import FakeClock
from cocoon.proxy.ledger import Ledger, RequestCharge
from cocoon.proxy.settlement import ProxySettlement
from cocoon.proxy.settlement.start import settlement_config
from cocoon.roles import ProxyConfig
from cocoon.ton.backend import KEYLESS_RATE_PER_S


class Minute:
    """A proxy's settlement with every default interval, started on a fake clock, and its ticks."""

    def __init__(self, tmp_path: Path) -> None:
        self.world = World(tmp_path)
        self.config = settlement_config(ProxyConfig())
        self.clock = FakeClock()
        self.ledger = Ledger(self.world.db)
        self.settlement = ProxySettlement(
            self.world.chain,
            self.world.sender,
            self.ledger,
            SECRET,
            PROXY_OWNER,
            self.world.root,
            self.world.params,
            self.config,
            session_hash=b"\x01" * 32,
            clock=self.clock,
        )

    async def start(self) -> None:
        await self.settlement.start()
        while not self.settlement.ready:
            await self.settlement.tick()

    async def chain_requests(self) -> Counter[str]:
        """The chain requests of one minute of ticks, by method."""
        before = self.world.chain.requests.by_method.copy()
        for _ in range(int(60 / self.config.tick_s)):
            self.clock.advance(self.config.tick_s)
            await self.settlement.tick()
        return self.world.chain.requests.by_method - before


async def test_an_idle_proxy_reads_the_chain_at_its_intervals_not_at_every_tick(tmp_path: Path) -> None:
    defaults = ProxyConfig()
    idle = Minute(tmp_path)
    await idle.start()
    minute = await idle.chain_requests()
    assert minute["get_transactions"] == 60 / defaults.chain_poll_interval_s == 12
    assert minute["get_account"] == 60 / defaults.settle_interval_s == 12
    assert sum(minute.values()) == 24 <= KEYLESS_RATE_PER_S * 60 / 2  # half the budget: room for sends


async def test_contracts_never_deployed_are_read_again_only_after_a_back_off_not_every_settle(
    tmp_path: Path,
) -> None:
    """Twenty workers served and their contracts were never deployed: each is read twice in the first
    minute (at once, then after 30 s), not at each of the twelve settlements (252 reads before)."""
    served = Minute(tmp_path)
    await served.start()
    settlement = served.settlement
    owners = [addr(f"absent-worker-{i}") for i in range(20)]
    for i, owner in enumerate(owners):
        charge = RequestCharge(
            request_id=f"r{i}",
            client_id="client-key",
            worker_id=f"worker-{i}",
            worker_owner=owner.raw,
            adjusted_tokens=100,
            client_cost_nano=100 * PRICE,
            worker_earned_nano=100 * FEE,
            client_owner=CLIENT_OWNER.raw,
            contract=settlement.scope,
        )
        assert served.ledger.record(charge, finished_at=0.0)
        settlement.on_recorded(CLIENT_OWNER.raw, owner.raw, 100)
    reads = (await served.chain_requests())["get_account"]
    counterparts = len(owners) + 1  # and the client's contract, not deployed either
    assert reads == 12 + 2 * counterparts  # the commission check at every settlement, then 2 each
