"""A request waiting for a free worker slot: its place in the slot queue and what its task sleeps on.

The slot queue (:mod:`cocoon.proxy.slot_queue`) is pure: it decides whom a freed slot wakes and calls
that waiter's ``wake`` callback. `SlotWait` is the event-loop side: the callback sets a future the
request's task awaits, with the time it may still wait. One future per sleep, no task or condition
per waiter: a wake costs one callback.
"""

from __future__ import annotations

import asyncio
import contextlib

from cocoon.proxy.selection import WorkerCandidate, accepts
from cocoon.proxy.slot_queue import Waiter
from cocoon.proxy.workers import WorkerPool
from cocoon.wire.messages import RunQuery


class SlotWait:
    """One request's place in the slot queue and what its task sleeps on (see the module doc)."""

    waiter: Waiter

    def __init__(self) -> None:
        self._woken: asyncio.Future[None] | None = None

    @classmethod
    def join(cls, workers: WorkerPool, request: RunQuery, tried: set[str]) -> SlotWait:
        """Join the model's line: woken when a worker this request could go to has a free slot.

        An end-to-end request is woken by any such worker, not only those it is sealed to: a free slot
        elsewhere makes it `e2e_reroute` at once rather than at its queue timeout
        (`cocoon.proxy.e2e_routing.reroute_now`)."""
        max_coefficient, endpoint = request.max_coefficient, request.path

        def fits(candidate: WorkerCandidate) -> bool:  # what `WorkerPool.choose` filters on
            return accepts(candidate, max_coefficient, tried, endpoint)

        waiting = cls()
        waiting.waiter = workers.wait(request.model, fits, waiting.wake)
        return waiting

    def wake(self) -> None:
        woken = self._woken
        if woken is not None and not woken.done():
            woken.set_result(None)

    async def sleep(self, within: float) -> None:
        """Until woken, or ``within`` seconds (then the caller chooses once more and gives up)."""
        woken = self._woken = asyncio.get_running_loop().create_future()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await woken
        finally:
            self._woken = None
