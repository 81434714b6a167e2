"""The proxy's move to the root's new params (spec/economics.md "Closing"; the reference's ``close_all``
and ``OldProxyContract``).

A proxy contract's address follows from the params, so when the root's ``params_version`` rises the
proxy (same process, key and database) deploys a contract under the new params and serves new
requests settled on it as soon as its start note is seen, while its old contract is closed in the
background by the close machinery (:mod:`cocoon.proxy.settlement.closer`): a signed ``grant_refund``
per client contract, a ``last_payout`` per worker contract, the delay, ``close_complete``. Each
contract has its own channels in the ledger, so nothing counted under the old one is charged or paid
again under the new one. The old contract's close is persisted before the new one is deployed: a
restart in between carries it on (:func:`~cocoon.proxy.settlement.start.resume_closes`).

:class:`Redeployer` does the move (``move``, run by a :class:`~cocoon.node.params_move.ParamsFollower`)
and runs every settlement: the current one ticks and pushes payment updates, each old one only ticks
until its contract is closed (its workers and clients moved on to the new contract).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from cocoon.proxy.service import ProxyService
from cocoon.proxy.settlement import ProxySettlement
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.ton.params import Params

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
"""How long the new contract's start note may take to appear on chain before the move is retried."""

Job = Callable[[], Coroutine[Any, Any, None]]


class Redeployer:
    """Moves ``service`` to a new proxy contract when the params rise; runs every settlement.

    ``make`` builds the (unstarted) settlement of this proxy's contract under given params."""

    def __init__(
        self,
        service: ProxyService,
        current: ProxySettlement,
        make: Callable[[Params], ProxySettlement],
        *,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.service, self.current, self.make = service, current, make
        self.ready_timeout_s = ready_timeout_s
        self.closing: list[ProxySettlement] = []
        """Settlements of earlier contracts, ticking until their contract is closed."""
        self.moves = 0
        self._changed = asyncio.Event()
        self._serve(current)

    def close_later(self, old: ProxySettlement) -> None:
        """Tick ``old`` (its close requested) until its contract is closed."""
        if old not in self.closing:
            self.closing.append(old)
            old.closer.requests_running = lambda: self.service.book.running(old)
            self._changed.set()

    async def move(self, snapshot: RegistrySnapshot, why: str) -> None:
        """Deploy the contract under ``snapshot``'s params, serve on it, close the current one.

        The old contract's close is persisted first (a restart carries it on) but starts on chain only
        once the new contract is ready: until then ``GetProxyInfo`` names the old contract, open, which
        workers and clients refuse only for its params and so retry, instead of leaving a closing
        proxy for good."""
        old = self.current
        if snapshot.params_version <= old.params.params_version:
            return
        new = self.make(snapshot.chain_params)
        log.warning("%s: deploying proxy contract %s, closing %s", why, new.contract, old.contract)
        if old.refused is None:  # a refused settlement signs nothing; its contract is left as it is
            old.store.request_close()
        await new.start()
        await new.wait_ready(self.ready_timeout_s)
        if old.refused is None:
            old.request_close()  # from now on the old contract takes no request and closes
        self._serve(new)
        self.close_later(old)
        self.moves += 1
        log.warning(
            "serving on the proxy contract %s (params version %d, price %d, worker fee %d nanoTON per "
            "token); the old contract %s is closing",
            new.contract,
            new.params.params_version,
            new.params.price_per_token,
            new.params.worker_fee_per_token,
            old.contract,
        )

    def _serve(self, settlement: ProxySettlement) -> None:
        """Point the service (credit, prices, ``GetProxyInfo``, COCOON register notes) at ``settlement``."""
        s = self.service
        s.chain, s.params = settlement, settlement.params
        s.book.move(settlement, settlement.params)
        s.workers.params = settlement.params
        if s.cocoon_port is not None:
            settlement.reader.on_client_register = s.cocoon_port.registers.on_register
        # a close waits until the requests reserved on this contract are counted
        settlement.closer.requests_running = lambda: s.book.running(settlement)
        self.current = settlement
        self._changed.set()

    async def _ticks(self, settlement: ProxySettlement) -> None:
        """Tick ``settlement``: while it is the current one for good, once it is left until it is closed."""
        await settlement.run_ticks(stop=lambda: settlement is not self.current and settlement.closed)
        settlement.forget_when_closed()
        if settlement in self.closing:
            self.closing.remove(settlement)
            self._changed.set()

    def _jobs(self) -> dict[tuple[ProxySettlement, str], Job]:
        """What runs now: ticks of every settlement, payment updates of the current one only (the
        workers and clients connected now settle on it)."""
        current = self.current
        jobs: dict[tuple[ProxySettlement, str], Job] = {
            (current, "push"): lambda: current.push_forever(self.service.workers)
        }
        for settlement in (current, *self.closing):
            jobs[(settlement, "tick")] = functools.partial(self._ticks, settlement)
        return jobs

    async def run(self) -> None:
        """Run the current settlement and every closing one, following the moves, until cancelled.

        A settlement's ticks are never cancelled (a tick stopped half-way could leave a note issued
        and unsent); only the pushes of a settlement that was left are."""
        running: dict[tuple[ProxySettlement, str], asyncio.Task[None]] = {}
        async with asyncio.TaskGroup() as group:
            while True:
                self._changed.clear()
                jobs = self._jobs()
                for key in [key for key in running if key not in jobs or running[key].done()]:
                    task = running.pop(key)
                    if key[1] == "push":
                        task.cancel()
                for key, job in jobs.items():
                    if key not in running:
                        running[key] = group.create_task(job())
                await self._changed.wait()

    def stats(self) -> list[dict[str, Any]]:
        """The closes of earlier contracts still under way, for ``/jsonstats``."""
        return [old.close_status() for old in self.closing]
