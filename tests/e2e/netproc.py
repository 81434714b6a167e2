"""Running `cocoon up` as a real process for end-to-end tests, and reading its nodes' stats."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waiting import wait_until_sync

READY_TIMEOUT_S = 120.0


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_instance(workers: int) -> int:
    """An instance number whose ports (engine, chain, proxy, workers, client) are all free."""
    for instance in range(20, 60):
        b = 10 * instance
        ports = [
            8000 + b,
            10000 + b,
            11000 + b,
            11001 + b,
            11002 + b,
            13000 + b,  # the local chain
            *(12000 + b + i for i in range(workers)),
        ]
        if all(_port_free(p) for p in ports):
            return instance
    raise RuntimeError("no free instance for a local network")


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def post_json(url: str, body: Any, timeout: float = 5.0) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return json.loads(resp.read())


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One raw HTTP exchange: (status, parsed JSON body), also for error statuses."""
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@dataclass
class RunningNet:
    """A `cocoon up` process and where its nodes listen."""

    process: subprocess.Popen[bytes]
    instance: int
    data_dir: Path
    workers: int
    model: str = ""

    @property
    def base(self) -> int:
        return 10 * self.instance

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{10000 + self.base}/v1"

    @property
    def engine_url(self) -> str:
        return f"http://127.0.0.1:{8000 + self.base}"

    def proxy_stats(self) -> Any:
        return get_json(f"http://127.0.0.1:{11000 + self.base}/jsonstats")

    def worker_stats(self, i: int) -> Any:
        return get_json(f"http://127.0.0.1:{12000 + self.base + i - 1}/jsonstats")

    def engine_stats(self) -> Any:
        return get_json(f"{self.engine_url}/fake/stats")

    def charged_nano(self) -> int:
        return sum(c["charged_nano"] for c in self.proxy_stats()["ledger"]["clients"])

    def earned_nano(self) -> int:
        """nanoTON the proxy's ledger credits to all workers together."""
        return sum(w["earned_nano"] for w in self.proxy_stats()["ledger"]["workers"])

    def admin_headers(self, node: str) -> dict[str, str]:
        """The headers with the admin token of ``node`` ("proxy", "client", "worker-1"...), which its
        admin POSTs (charge, payout, close, payments) ask for."""
        token = (self.data_dir / node / "admin.token").read_text().strip()
        return {"Authorization": f"Bearer {token}"}

    def output(self) -> str:
        log = self.data_dir / "up.log"
        return log.read_text(errors="replace") if log.exists() else ""


def start_net(
    data_dir: Path, *, engine: str = "fake", workers: int = 2, env: dict[str, str] | None = None
) -> RunningNet:
    """Start `cocoon up --no-demo` and wait until every worker is registered.

    ``env`` is added to the environment of `cocoon up` and so of every node (e.g. ``COCOON_<KEY>``
    settings, which each role reads when the key is one of its own).
    """
    instance = free_instance(workers)
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "cocoon.cli.main", "up", "--engine", engine, "--workers", str(workers)]
    argv += ["--instance", str(instance), "--data-dir", str(data_dir), "--no-demo"]
    with (data_dir / "up.log").open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    net = RunningNet(process, instance, data_dir, workers)
    try:
        wait_until_sync(lambda: _serving(net), READY_TIMEOUT_S, poll_s=0.2)
    except TimeoutError:
        stop_net(net)
        raise RuntimeError(
            f"the local network was not ready within {READY_TIMEOUT_S} s:\n{net.output()}"
        ) from None
    return net


def _serving(net: RunningNet) -> bool:
    """True once every worker serves the model (then `net.model` is set); raises if `cocoon up` exited."""
    if net.process.poll() is not None:
        raise RuntimeError(f"cocoon up exited with {net.process.returncode}:\n{net.output()}")
    try:
        models = get_json(f"{net.base_url}/models", timeout=2)["data"]
    except OSError:
        return False
    if models and len(models[0]["workers"]) >= net.workers:
        net.model = models[0]["id"]
        return True
    return False


def node_pids(net: RunningNet) -> list[int]:
    """PIDs of the processes `cocoon up` started (children of its process)."""
    children = Path(f"/proc/{net.process.pid}/task/{net.process.pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def stop_net(net: RunningNet) -> int:
    """Ctrl-C `cocoon up`, as a person would; return its exit code."""
    if net.process.poll() is None:
        net.process.send_signal(signal.SIGINT)
        try:
            net.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            net.process.kill()
            net.process.wait()
    return net.process.returncode


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is not running any more.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
