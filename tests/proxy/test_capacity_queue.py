"""Requests queued for a free worker slot, through the real `Router` and `WorkerPool` with fake worker
connections: they are served in arrival order, a freed slot costs O(1) choices (not one per queued
request), a worker connecting or raising its slots serves the queue at once, a worker leaving makes
its queue fail fast, and the queue timeout, cancellation and the queued gauge behave as before."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from recording_writer import RecordingWriter

from cocoon.net.rpc import RpcConnection
from cocoon.payments.params import NetworkParams
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.routing import Router
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.usage import Usage
from cocoon.wire.messages import AnswerEnd, AnswerHead, RunQuery, WorkerState
from waiting import wait_until

MODEL = "m"
USAGE = Usage(prompt_tokens=3, completion_tokens=2)


class FakeStream:
    """One answer: held until its worker answers it (`FakeWorker.answer_one`, `answer_all`), then a
    head and an end."""

    ended = False  # the router relays each part on arrival (nothing held for the end)

    def __init__(self, worker: FakeWorker, request_id: int) -> None:
        self.worker, self.request_id = worker, request_id

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[object]:
        if not self.worker.open:
            held = asyncio.get_running_loop().create_future()
            self.worker.held.append(held)
            await held
        yield AnswerHead(self.request_id, 200)
        yield AnswerEnd(self.request_id, USAGE)


class FakeWorker:
    """A worker connection that records what it was asked, in order, and answers when told to."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.held: list[asyncio.Future[None]] = []
        self.open = False
        self._ids = 0

    def answer_one(self) -> None:
        """Let the oldest answer held go."""
        self.held.pop(0).set_result(None)

    def answer_all(self) -> None:
        """Let every answer go, now and from now on."""
        self.open = True
        for held in self.held:
            held.set_result(None)
        self.held.clear()

    def new_request_id(self) -> int:
        self._ids += 1
        return self._ids

    async def run_query(self, query: RunQuery) -> FakeStream:
        self.asked.append(query.client_request_id)
        return FakeStream(self, query.request_id)


class Net:
    def __init__(self, tmp_path: Path, queue_timeout_s: float) -> None:
        ledger = Ledger(tmp_path / "state.db")
        ledger.ensure_client("c", 10**15)
        self.pool = WorkerPool()
        self.router = Router(
            self.pool, ClientBook(ledger, NetworkParams()), "p", queue_timeout_s=queue_timeout_s
        )
        self.workers: dict[str, FakeWorker] = {}
        self.choices = 0
        choose = self.pool.choose

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.choices += 1
            return choose(*args, **kwargs)

        self.pool.choose = counted  # type: ignore[method-assign]

    def connect(self, worker_id: str, max_active: int) -> WorkerLink:
        fake = self.workers[worker_id] = FakeWorker()
        link = WorkerLink(worker_id, cast(RpcConnection, fake), "img")
        link.state = offer(max_active)
        self.pool.add(link)
        return link

    def ask(self, name: str, timeout_ms: int = 0) -> tuple[asyncio.Task[None], RecordingWriter]:
        answer = RecordingWriter()
        query = RunQuery(0, MODEL, b"{}", 10**6, 16, timeout_ms, client_request_id=name)
        return asyncio.create_task(self.router.handle("c", query, answer)), answer

    async def queue(self, names: list[str]) -> list[tuple[asyncio.Task[None], RecordingWriter]]:
        """Send one request per name, each queued before the next is sent (arrival order is known)."""
        asked = []
        for name in names:
            queued = self.router.queued
            asked.append(self.ask(name))
            await wait_until(lambda queued=queued: self.router.queued == queued + 1, what=f"{name} queued")
        return asked


def offer(max_active: int) -> WorkerState:
    return WorkerState(True, MODEL, 1000, max_active, 0, "", 0, ("/v1/chat/completions",))


async def test_fifty_requests_queued_on_one_slot_are_all_served_in_arrival_order(tmp_path: Path) -> None:
    net = Net(tmp_path, queue_timeout_s=60)
    net.connect("w", max_active=1)
    first = net.ask("r0")
    await wait_until(lambda: net.workers["w"].asked == ["r0"])
    names = [f"r{i}" for i in range(1, 50)]
    queued = await net.queue(names)
    net.workers["w"].answer_all()
    await asyncio.wait_for(asyncio.gather(first[0], *(task for task, _ in queued)), 10)
    assert net.workers["w"].asked == ["r0", *names]
    assert all(answer.status == 200 and answer.finished for _, answer in [first, *queued])
    assert net.router.queued == 0 and not net.pool.waiting.has_waiters(MODEL)
    assert net.router.counters.succeeded == 50


@pytest.mark.parametrize("slots", [1, 8])
async def test_a_freed_slot_costs_a_bounded_number_of_choices_not_one_per_queued_request(
    tmp_path: Path, slots: int
) -> None:
    """100 requests queued behind busy slots, freed one at a time: each queued request is chosen for
    once more, when woken for its slot (the old condition woke every queued request on every freed
    slot: about 100 * 101 / 2 choices)."""
    net = Net(tmp_path, queue_timeout_s=60)
    net.connect("w", max_active=slots)
    worker = net.workers["w"]
    busy = [net.ask(f"busy{i}") for i in range(slots)]
    await wait_until(lambda: len(worker.asked) == slots)
    queued = await net.queue([f"r{i}" for i in range(100)])
    net.choices = 0
    for step in range(1, 101):
        worker.answer_one()
        await wait_until(lambda step=step: len(worker.asked) == slots + step, what=f"request {step} sent")
        for _ in range(20):  # let every task woken by the freed slot run (none is left ready)
            await asyncio.sleep(0)
    worker.answer_all()
    await asyncio.wait_for(asyncio.gather(*(task for task, _ in [*busy, *queued])), 10)
    assert all(answer.status == 200 for _, answer in queued)
    assert worker.asked[slots:] == [f"r{i}" for i in range(100)]
    print(f"choices for 100 queued requests on {slots} slot(s): {net.choices}")
    assert net.choices <= 100 + slots  # one per woken request (a few spare for one re-arming)


async def test_a_worker_connecting_serves_the_queue_without_waiting_for_the_timeout(tmp_path: Path) -> None:
    net = Net(tmp_path, queue_timeout_s=30)
    net.connect("busy", max_active=1)
    held = net.ask("held")
    await wait_until(lambda: net.workers["busy"].asked == ["held"])
    queued = await net.queue([f"r{i}" for i in range(5)])
    started = time.monotonic()
    net.connect("new", max_active=5)
    net.workers["new"].answer_all()
    await asyncio.wait_for(asyncio.gather(*(task for task, _ in queued)), 5)
    assert time.monotonic() - started < 2  # far from the 30 s queue timeout
    assert net.workers["new"].asked == [f"r{i}" for i in range(5)]
    assert not held[0].done()  # the busy worker still holds its request
    net.workers["busy"].answer_all()
    await held[0]


async def test_a_worker_raising_its_slots_serves_the_queue_at_once(tmp_path: Path) -> None:
    net = Net(tmp_path, queue_timeout_s=30)
    link = net.connect("w", max_active=1)
    held = net.ask("held")
    await wait_until(lambda: net.workers["w"].asked == ["held"])
    queued = await net.queue(["a", "b", "c"])
    link.state = offer(3)  # two more slots: a and b go now, c still waits
    await wait_until(lambda: net.workers["w"].asked == ["held", "a", "b"], 2)
    assert net.router.queued == 1
    net.workers["w"].answer_all()
    await asyncio.wait_for(asyncio.gather(held[0], *(task for task, _ in queued)), 5)
    assert net.workers["w"].asked == ["held", "a", "b", "c"]


async def test_the_queue_of_a_worker_that_leaves_fails_fast(tmp_path: Path) -> None:
    net = Net(tmp_path, queue_timeout_s=30)
    link = net.connect("w", max_active=1)
    held = net.ask("held")
    await wait_until(lambda: net.workers["w"].asked == ["held"])
    queued = await net.queue(["a", "b"])
    net.pool.remove(link)
    await asyncio.wait_for(asyncio.gather(*(task for task, _ in queued)), 2)
    assert [(answer.status, answer.code) for _, answer in queued] == [(404, "model_not_found")] * 2
    assert net.router.queued == 0
    held[0].cancel()


async def test_the_queue_timeout_and_the_request_deadline_still_bound_the_wait(tmp_path: Path) -> None:
    net = Net(tmp_path, queue_timeout_s=0.2)
    net.connect("w", max_active=1)
    held = net.ask("held")
    await wait_until(lambda: net.workers["w"].asked == ["held"])
    started = time.monotonic()
    task, answer = net.ask("late")
    await asyncio.wait_for(task, 5)
    assert 0.15 < time.monotonic() - started < 2
    assert (answer.status, answer.code) == (503, "no_capacity")
    net.router.queue_timeout_s = 30  # the request's own deadline is shorter: it bounds the wait
    started = time.monotonic()
    task, answer = net.ask("deadline", timeout_ms=200)
    await asyncio.wait_for(task, 5)
    assert 0.15 < time.monotonic() - started < 2 and answer.code == "no_capacity"
    assert net.router.queued == 0 and net.router.counters.refused_capacity == 2
    held[0].cancel()


async def test_a_cancelled_waiter_leaves_the_line_and_passes_on_a_slot_it_was_woken_for(
    tmp_path: Path,
) -> None:
    net = Net(tmp_path, queue_timeout_s=30)
    link = net.connect("w", max_active=1)
    link.active = 1  # its slot is taken (by a request not through this router)
    (a, _), (b, b_answer) = await net.queue(["a", "b"])
    net.workers["w"].answer_all()
    link.active = 0  # a is woken for the freed slot ...
    a.cancel()  # ... and cancelled before it runs: b must get the slot
    await asyncio.wait_for(b, 2)
    assert b_answer.status == 200 and net.workers["w"].asked == ["b"]
    assert a.cancelled() and net.router.queued == 0 and net.router.counters.cancelled == 1
    assert not net.pool.waiting.has_waiters(MODEL) and net.pool.waiting.owed("w") == 0
