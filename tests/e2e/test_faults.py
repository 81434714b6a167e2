"""Faults on real processes: a worker killed mid-stream, a caller that hangs up, Ctrl-C on `cocoon up`."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse
from pathlib import Path

import pytest
from netproc import RunningNet, alive, http, node_pids, start_net, stop_net

from waiting import wait_until_sync

pytestmark = pytest.mark.slow

DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNet]:
    running = start_net(tmp_path_factory.mktemp("faults"))
    yield running
    stop_net(running)


def slow_engine(net: RunningNet, delay_ms: float, chunks: int) -> None:
    status, _ = http(
        "POST", f"{net.engine_url}/fake/config", json.dumps({"delay_ms": delay_ms, "chunks": chunks}).encode()
    )
    assert status == 200


def open_stream(net: RunningNet) -> HTTPResponse:
    body = {
        "model": net.model,
        "messages": [{"role": "user", "content": "count slowly"}],
        "stream": True,
        "max_tokens": 500,
        "timeout": 60,
    }
    request = urllib.request.Request(
        f"{net.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    resp: HTTPResponse = urllib.request.urlopen(request, timeout=DEADLINE_S)
    return resp


def data_lines(resp: HTTPResponse) -> Iterator[str]:
    for raw in resp:
        line = raw.decode().strip()
        if line.startswith("data: "):
            yield line.removeprefix("data: ")


def worker_index(net: RunningNet, worker_id: str) -> int:
    return next(i for i in range(1, net.workers + 1) if net.worker_stats(i)["worker_id"] == worker_id)


def test_caller_hanging_up_cancels_the_engine_call(net: RunningNet) -> None:
    slow_engine(net, delay_ms=50, chunks=400)
    aborted_before = net.engine_stats()["aborted"]
    resp = open_stream(net)
    next(data_lines(resp))
    worker = worker_index(net, resp.headers["X-Cocoon-Worker"])
    # Hang up abruptly, as a crashed app would.
    sock = resp.fp.raw._sock  # type: ignore[attr-defined]
    sock.shutdown(socket.SHUT_RDWR)
    resp.close()
    wait_until_sync(
        lambda: net.engine_stats()["aborted"] > aborted_before, DEADLINE_S, what="the engine call was aborted"
    )
    assert net.engine_stats()["aborted"] == aborted_before + 1, "the engine call was not aborted"
    assert net.worker_stats(worker)["requests"]["cancelled"] >= 1
    assert net.engine_stats()["active"] == 0
    slow_engine(net, delay_ms=0, chunks=8)


def test_worker_killed_mid_stream_ends_with_error_and_done(net: RunningNet) -> None:
    slow_engine(net, delay_ms=100, chunks=200)
    resp = open_stream(net)
    lines = data_lines(resp)
    first = json.loads(next(lines))
    assert first["choices"]
    victim = worker_index(net, resp.headers["X-Cocoon-Worker"])
    survivor_id = net.worker_stats(3 - victim)["worker_id"]
    started = time.monotonic()
    os.kill(net.worker_stats(victim)["pid"], signal.SIGKILL)
    rest = list(lines)
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S
    assert rest[-1] == "[DONE]"
    error = json.loads(rest[-2])["error"]
    assert error["code"] == "upstream_error"
    assert error["message"]

    slow_engine(net, delay_ms=0, chunks=8)
    with urllib.request.urlopen(
        urllib.request.Request(
            f"{net.base_url}/chat/completions",
            data=json.dumps({"model": net.model, "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        ),
        timeout=DEADLINE_S,
    ) as after:
        assert after.status == 200
        assert after.headers["X-Cocoon-Worker"] == survivor_id


def test_ctrl_c_stops_every_process(net: RunningNet, tmp_path: Path) -> None:
    pids = node_pids(net)
    assert len(pids) >= 4  # engine, proxy, surviving worker, client (the killed one may be reaped)
    assert stop_net(net) == 0
    wait_until_sync(lambda: not any(alive(p) for p in pids), 10, what="no orphan processes after Ctrl-C")
    assert not [p for p in pids if alive(p)], "orphan processes after Ctrl-C"
    assert "stopped." in net.output()
