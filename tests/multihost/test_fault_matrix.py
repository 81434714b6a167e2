"""The fault matrix on the multi-host bed: one network (chain, 2 proxies, 3 workers, 2 clients, each on
its own host), one fault per test, each followed by the money check (`multihost.check_money`): every
answered request charged exactly once, every token a worker served paid once the proxy settles,
client and worker contract totals equal to the proxies' ledgers; and no process left behind.

The tests share one network and run in the order written (cheapest first); each leaves it whole
again (nodes restarted, links healed, engines reset). Each states its bound: how many tokens beyond
those of fully answered requests a fault may leave charged (cut requests billed as delivered).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from netns_bed import Hosts, unavailable

from cocoon.client.e2e_workers import REFRESH_S
from cocoon.clock import CLOCK_OFFSET_ENV
from multihost import CLIENTS, PROXIES, WORKERS, Bed, check_money, data_lines
from waiting import wait_until_sync

pytestmark = [pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "")]

ENGINE_DEFAULTS = {"chunks": 8, "delay_ms": 0, "first_delay_ms": 0, "fail_status": None}
CHAIN_DOWN_S = 30.0
BUSY_S = 15.0
SKEW_S = 300
PROMPT_TOKENS = 8  # more than any prompt here counts (the fake engine counts chars / 4)


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    running = Bed(Hosts(), tmp_path_factory.mktemp("multihost"))
    try:
        running.start()
        yield running
    finally:
        left = running.stop()
        assert left == [], f"processes left behind when the bed stopped: {left}"


@pytest.fixture
def net(bed: Bed) -> Iterator[Bed]:
    """The shared bed, whole: every node running, engines at their defaults; checked after the test."""
    bed.engines(ENGINE_DEFAULTS)
    yield bed
    assert bed.stray_processes() == {}, "processes left behind"
    for name, node in bed.nodes.items():
        assert node.process is not None and node.process.poll() is None, f"{name} is not running"


def _load(
    bed: Bed, count: int, parallel: int = 4, max_tokens: int = 20
) -> tuple[ThreadPoolExecutor, list[Future[Any]]]:
    """``count`` requests in the background, alternating clients; ``(pool, futures)``."""
    pool = ThreadPoolExecutor(max_workers=parallel)
    futures = [
        pool.submit(_quiet_ask, bed, CLIENTS[i % len(CLIENTS)], f"load {i}", max_tokens) for i in range(count)
    ]
    return pool, futures


def _quiet_ask(bed: Bed, client: str, text: str, max_tokens: int) -> tuple[int, Any]:
    try:
        return bed.ask(client, text, max_tokens, timeout=60)
    except OSError as exc:  # the connection itself failed (e.g. the client daemon was killed)
        return 0, str(exc)


def _statuses(futures: list[Future[Any]]) -> list[int]:
    return [f.result()[0] for f in futures]


def test_engine_answering_500(net: Bed) -> None:
    """An engine that answers 500 to everything: its worker's requests fail or go to another worker.

    Bound: 0. A request the engine refused delivered nothing and is charged nothing; every request
    answered is charged once.
    """
    net.engine("worker-1", {"fail_status": 500})
    answers = net.ask_many(18, parallel=6)
    statuses = [s for s, _ in answers]
    assert statuses.count(200) >= 12, statuses  # the two healthy workers answer
    assert set(statuses) <= {200, 500, 502, 503}, statuses
    failed = [a for s, a in answers if s != 200]
    assert all(a["error"]["message"] for a in failed), failed  # a failure says what went wrong
    assert check_money(net, lost_bound=0) == sum(
        a["usage"]["adjusted_tokens"] for s, a in answers if s == 200
    )


def test_worker_killed_mid_stream(net: Bed) -> None:
    """kill -9 of the worker serving a stream: the stream ends with an error and [DONE], the network
    keeps answering through the other workers, the worker restarts and serves again.

    Bound: the cut stream's tokens (its prompt and at most its max_tokens); everything else exactly.
    """
    net.engines({"delay_ms": 50, "chunks": 400})
    resp = net.open_stream("client-1", max_tokens=400)
    lines = data_lines(resp)
    assert json.loads(next(lines))["choices"] is not None
    victim = net.worker_named(resp.headers["X-Cocoon-Worker"])
    started = time.monotonic()
    net.kill(victim)
    rest = list(lines)
    assert time.monotonic() - started < 15
    assert rest[-1] == "[DONE]"
    assert json.loads(rest[-2])["error"]["code"] == "upstream_error"
    net.engines(ENGINE_DEFAULTS)
    assert [s for s, _ in net.ask_many(6)] == [200] * 6  # the survivors answer
    net.restart(victim)
    for proxy in PROXIES:
        net.wait_proxy_workers(proxy, len(WORKERS))
    assert [s for s, _ in net.ask_many(6)] == [200] * 6
    check_money(net, lost_bound=400 + PROMPT_TOKENS)


def test_partition_between_a_worker_and_a_proxy_heals(net: Bed) -> None:
    """Packets between worker-2's host and proxy-1's host dropped (both ways) under load, then healed.

    While cut, proxy-1 stops routing to worker-2 and requests are answered by the others (through
    proxy-2 worker-2 still serves); after healing worker-2 is back with proxy-1.
    Bound: the requests in flight between proxy-1 and worker-2 at the cut (4 at most, 20 tokens
    each plus the prompt); everything else exactly.
    """
    net.engines({"delay_ms": 20})
    pool, futures = _load(net, 24)
    wait_until_sync(lambda: sum(f.done() for f in futures) >= 4, 60, what="the first answers")
    net.hosts.partition("worker-2", "proxy-1")
    cut = time.monotonic()
    try:
        statuses = _statuses(futures)
        pool.shutdown()
        # a request in flight on the silent link waits for the session's silence timeout (30 s,
        # cocoon.wire.session) before it is tried elsewhere
        assert time.monotonic() - cut < 45
        assert statuses.count(200) >= 20, statuses
        assert [s for s, _ in net.ask_many(8)] == [200] * 8  # the network answers while cut
    finally:
        net.hosts.join("worker-2", "proxy-1")
    net.wait_proxy_workers("proxy-1", len(WORKERS))
    assert [s for s, _ in net.ask_many(8)] == [200] * 8
    check_money(net, lost_bound=4 * (20 + PROMPT_TOKENS))


def test_client_daemon_killed_and_restarted(net: Bed) -> None:
    """kill -9 of client-1's daemon under load, then a restart on the same data: it pays on from
    where the proxies' ledgers stand.

    Bound: the requests client-1 had in flight (at most 4, 20 tokens each plus the prompt): the
    workers served them and are paid, the app never saw the answers; everything else exactly.
    """
    net.engines({"delay_ms": 20})
    pool, futures = _load(net, 16)
    wait_until_sync(lambda: sum(f.done() for f in futures) >= 4, 60, what="the first answers")
    net.kill("client-1")
    statuses = _statuses(futures)
    pool.shutdown()
    assert statuses.count(200) >= 8, statuses  # client-2's requests all answered
    net.restart("client-1")
    net.wait_workers("client-1", len(WORKERS))
    net.wait_proxies("client-1")
    assert [s for s, _ in net.ask_many(8)] == [200] * 8
    check_money(net, lost_bound=4 * (20 + PROMPT_TOKENS))


def test_proxy_killed_under_load_and_restarted(net: Bed) -> None:
    """kill -9 of proxy-1 under load: clients go on through proxy-2; proxy-1 restarts on its database
    and settles what it had recorded, no charge lost and none doubled.

    Bound: the requests proxy-1 had in flight at the kill (at most 6, 20 tokens each plus the
    prompt): charged if proxy-1 had recorded them, else not; everything else exactly.
    """
    net.engines({"delay_ms": 20})
    pool, futures = _load(net, 30, parallel=6)
    wait_until_sync(lambda: sum(f.done() for f in futures) >= 6, 60, what="the first answers")
    killed = net.kill("proxy-1")
    statuses = _statuses(futures)
    pool.shutdown()
    assert statuses.count(200) >= 20, statuses
    assert [s for s, _ in net.ask_many(8)] == [200] * 8  # through proxy-2 alone
    net.restart("proxy-1")
    assert net.stats("proxy-1")["pid"] != killed
    net.wait_proxy_workers("proxy-1", len(WORKERS))
    for client in CLIENTS:
        net.wait_proxies(client)
    assert [s for s, _ in net.ask_many(8)] == [200] * 8
    check_money(net, lost_bound=6 * (20 + PROMPT_TOKENS))


def test_no_process_is_left_behind_a_kill(net: Bed) -> None:
    """After the kills and restarts above each host runs exactly its live nodes, and SIGTERM of a
    node ends it (the bed's teardown checks the rest)."""
    pid = net.nodes["engine-worker-3"].process.pid  # type: ignore[union-attr]
    assert pid in net.hosts.pids("worker-3")
    net.terminate("engine-worker-3")
    assert pid not in net.hosts.pids("worker-3")
    net.restart("engine-worker-3")
    net.wait_ready("worker-3")


def test_slow_reader_that_stops_reading(net: Bed) -> None:
    """An app that opens a large stream on client-1, stops reading, then hangs up: the rest of the
    network answers meanwhile, and the hang-up cancels the engine call.

    Bound: the stalled stream's tokens (its prompt and at most its max_tokens); everything else exactly.
    """
    net.engines({"chunks": 2000, "delay_ms": 5, "chunk_size": 2048})
    resp = net.open_stream("client-1", max_tokens=2000)
    assert next(data_lines(resp))
    worker = net.worker_named(resp.headers["X-Cocoon-Worker"])
    aborted = net.engine_stats(worker)["aborted"]
    net.engines({"chunks": 8, "delay_ms": 0, "chunk_size": 0})  # the stalled stream keeps its settings
    answers = net.ask_many(8)  # the reader does not read; everyone else is answered
    assert [s for s, _ in answers] == [200] * 8
    assert net.engine_stats(worker)["active"] == 1  # the stalled stream is still open, not finished
    resp.fp.raw._sock.shutdown(2)  # type: ignore[attr-defined]  # hang up, as a crashed app would
    resp.close()
    wait_until_sync(
        lambda: net.engine_stats(worker)["aborted"] > aborted,
        20,
        what="the stalled stream's engine call ended",
    )
    assert net.engine_stats(worker)["active"] == 0
    net.engines({"chunk_size": 0})
    check_money(net, lost_bound=2000 + PROMPT_TOKENS)


def test_chain_down_and_back(net: Bed) -> None:
    """The chain service stopped for CHAIN_DOWN_S seconds (the issue's 30 s, kept real), then started
    again on its data: requests are answered all along (payment is off-chain between settlements),
    and settlement afterwards charges and pays everything.

    Bound: 0 - no request is cut, so everything answered is charged exactly once.
    """
    net.kill("chain")
    down_since = time.monotonic()
    statuses: list[int] = []
    while time.monotonic() - down_since < CHAIN_DOWN_S:
        statuses += [s for s, _ in net.ask_many(4)]
        time.sleep(2)
    assert statuses and statuses == [200] * len(statuses)
    net.restart("chain")
    assert [s for s, _ in net.ask_many(6)] == [200] * 6
    check_money(net, lost_bound=0)


def test_engine_busy(net: Bed) -> None:
    """Every worker's engine takes requests but answers nothing for BUSY_S seconds (the issue's 60 s,
    scaled down: the worker's behaviour does not depend on how long, and its request timeout is
    longer still): every request waits on an engine and is answered, in full, once it is free again.

    All three engines are busy, not one: which worker routing picks depends on what it has learned
    of each (a worker that looks slower is not picked while the others have free slots), so with one
    busy engine the test could not know that any request waited on it.

    Bound: 0 - every request is answered in full and charged exactly once.
    """
    completed = sum(net.engine_stats(w)["completed"] for w in WORKERS)
    net.engines({"first_delay_ms": BUSY_S * 1000})
    started = time.monotonic()
    count = 12  # fewer than the slots of any two workers: nothing queues at a proxy
    pool, futures = _load(net, count, parallel=count)
    wait_until_sync(
        lambda: sum(net.engine_stats(w)["active"] for w in WORKERS) == count,
        10,
        what=f"all {count} requests wait on an engine",
    )
    assert not any(f.done() for f in futures)  # none was answered while the engines were busy
    statuses = _statuses(futures)
    pool.shutdown()
    assert statuses == [200] * count, statuses
    assert time.monotonic() - started >= BUSY_S  # the busy engines' answers came, after their pause
    assert sum(net.engine_stats(w)["completed"] for w in WORKERS) == completed + count
    net.engines({"first_delay_ms": 0})
    check_money(net, lost_bound=0)


def test_worker_clock_five_minutes_off(net: Bed) -> None:
    """worker-2 restarted with its wall clock 5 minutes ahead (COCOON_TEST_CLOCK_OFFSET_S, read by
    cocoon.clock for tests only; its certificates, statements and the e2e envelope check all read
    that clock). Its certificate and statement are still accepted (both allow 5 minutes of skew),
    but the clients' end-to-end envelopes look stale to it (they allow 2 minutes), so it refuses
    them; the proxy then tries another worker the envelope is sealed to, or the client seals again
    to fresh candidates, and the app sees only answers. (Before, `e2e_stale` counted as the
    request's fault and the app got a 400 for a worker's clock.)

    Bound: 0 - a refused request delivered nothing and is charged nothing; every answer exactly once.
    """
    net.terminate("worker-2")
    net.restart("worker-2", env={CLOCK_OFFSET_ENV: str(SKEW_S)})
    try:
        for proxy in PROXIES:
            net.wait_proxy_workers(proxy, len(WORKERS))  # its certificate was accepted
        net.engines({"delay_ms": 50})  # answers overlap: clients seal to the workers with free slots
        # Until a request was sealed to the skewed worker: a client seals to the workers of the list
        # it keeps (up to REFRESH_S old), so its new key is used once the lists were asked again.
        deadline = time.monotonic() + REFRESH_S + 20
        while True:
            answers = net.ask_many(24, parallel=12)
            assert [s for s, _ in answers] == [200] * 24, answers
            skewed = net.stats("worker-2")["requests"]
            if skewed["e2e_refused"] or time.monotonic() > deadline:
                break
        assert skewed["e2e_refused"].get("e2e_stale", 0) >= 1, skewed  # it was tried, and refused
        assert skewed["served"] == 0, skewed
        check_money(net, lost_bound=0)
    finally:
        net.terminate("worker-2")
        net.restart("worker-2", env={})
        for proxy in PROXIES:
            net.wait_proxy_workers(proxy, len(WORKERS))
