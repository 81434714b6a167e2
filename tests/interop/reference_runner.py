"""The reference peer (``../shared/peers/cocoon-reference``) run by the tests, and its client runner
pointed at a proxy of our choice.

`cannot_run` / `skip_unless_runnable` tell whether the reference binaries run on this machine.
`start_reference` (or the `reference_processes` context) runs its ``start.py`` (proxy and router, with
``--worker`` and ``--client`` its worker and client runner, in test mode with fake TON) on a free port
range and reads the ports from the JSON line it prints; `ReferenceProcesses` stops them, reads their
logs and the proxy's ``/jsonstats``. `connect_when_ready` retries a first connection through the
window in which the reference proxy is not serving yet.

``start.py`` always starts the reference proxy; a reference client in front of *our* proxy needs only
the router (its SOCKS side does the proof of work and TLS 1.3 towards the proxy, with the ``any``
policy) and the client runner in the reference's test mode. `reference_client` renders their configs
into a temporary directory the way ``start.py`` does, except that the fake TON config's one registered
proxy names the client port we give it, and starts the two binaries; `ReferenceClient` reads the
client runner's log for why a proxy connection failed, so a test can say how far the handshake got.

The fake TON config is the client's whole view of the root contract: the proxy must answer
``client.connectedToProxy`` with the proxy and client contract addresses the client derives from it
(our proxy does, given the same file as ``cocoon_fake_root``: `cocoon.ton.reference.fake_root`) and
accept its ``min_config_version`` (the config's ``version``; our proxy without a chain accepts any).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cocoon.errors import ConnectionClosedError
from cocoon.ton.address import Address
from waiting import wait_until_sync

T = TypeVar("T")

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "cocoon-reference"
ANSI = re.compile(rb"\x1b\[[0-9;]*m")
FAILURE = re.compile(r"failing connection \d+: (\[Error : -?\d+ : .*\])")


def cannot_run(*binaries: str) -> str | None:
    """Why the reference ``binaries`` cannot run here (None when each answers ``--help`` itself)."""
    if not (REFERENCE / "start.py").is_file():
        return f"the reference peer is not at {REFERENCE}"
    return next((why for binary in binaries if (why := _cannot_run(binary)) is not None), None)


@functools.cache
def _cannot_run(binary: str) -> str | None:
    # Cached for the session: a runner takes a second or two to answer --help.
    try:
        done = subprocess.run(
            [str(REFERENCE / "bin" / binary), "--help"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{binary}: {exc}"
    out = done.stdout + done.stderr
    if done.returncode != 0 and b"unrecognized" not in out:  # the runners refuse --help their own way
        return f"{binary} exited {done.returncode}: {out[-300:].decode(errors='replace')}"
    return None


def skip_unless_runnable(*binaries: str) -> None:
    """Skip the calling test when one of the reference ``binaries`` cannot run here (saying why)."""
    why = cannot_run(*binaries)
    if why is not None:
        pytest.skip(f"the reference binaries cannot run here ({why})")


def reference_config(name: str) -> dict[str, Any]:
    """One of the reference's own test-mode configs (``config/<name>``)."""
    doc: dict[str, Any] = json.loads((REFERENCE / "config" / name).read_text())
    return doc


def root_address() -> Address:
    """The root contract address the reference's test configs name."""
    return Address.parse(reference_config("client-config.json")["root_contract_address"])


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


PORT_OFFSETS = (0, 1, 2, 101, 102, 116, 200, 201, 300, 301)
"""The ports ``start.py --worker --client`` binds, from its base."""


def free_base(offsets: tuple[int, ...] = PORT_OFFSETS) -> int:
    """A base port with ``base + offset`` free for every offset (start.py takes consecutive ranges)."""
    for _ in range(50):
        base = 20000 + int.from_bytes(os.urandom(2), "little") % 30000
        taken = []
        try:
            for offset in offsets:
                sock = socket.socket()
                taken.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in taken:
                sock.close()
    raise RuntimeError("no free port range for the reference network")


@dataclass
class ReferenceProcesses:
    """Running reference processes, each with a log ``run_dir/<name>.log``; ``ports`` is the JSON line
    ``start.py`` printed (empty for processes we started ourselves)."""

    run_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, Any] = field(default_factory=dict)

    @property
    def client_port(self) -> int:
        """The reference proxy's COCOON client port (through its router)."""
        return int(self.ports["client_port"])

    def jsonstats(self) -> dict[str, Any]:
        """The reference proxy's /jsonstats (workers, clients and their used tokens, ...)."""
        url = f"http://127.0.0.1:{self.ports['proxy_http']}/jsonstats"
        with urllib.request.urlopen(url, timeout=5) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
        return doc

    def wait_for_worker(self, timeout_s: float = 30) -> None:
        """Wait until the reference worker is connected to the reference proxy (its /jsonstats says so)."""

        def worker_connected() -> bool:
            if (why := self.exited()) is not None:
                raise AssertionError(f"the reference network stopped: {why} {self.log('proxy')[-2000:]}")
            try:
                return bool(self.jsonstats().get("worker_connections"))
            except OSError:
                return False  # the proxy's HTTP port is not up yet

        wait_until_sync(worker_connected, timeout_s, what="the reference worker connected to its proxy")

    def log(self, name: str = "client") -> str:
        """A runner's log so far, without colour codes."""
        path = self.run_dir / f"{name}.log"
        return ANSI.sub(b"", path.read_bytes()).decode(errors="replace") if path.exists() else ""

    def exited(self) -> str | None:
        """Which process exited, with its code, if one did."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return f"{name} exited {process.returncode}: {self.log(name)[-500:]}"
        return None

    def stop(self) -> None:
        """SIGTERM to each process group (``start.py`` stops what it started), SIGKILL after 10 s."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


def start_reference(run_dir: Path, *options: str) -> ReferenceProcesses:
    """Run ``start.py run_dir --base BASE *options`` (BASE a free port range; ``--worker HOST:PORT``,
    ``--client``) and read its ports; stop it with ``stop()``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(REFERENCE / "start.py"), str(run_dir), "--base", str(free_base()), *options]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True)
    running = ReferenceProcesses(run_dir, {"start.py": process})
    assert process.stdout is not None
    line = process.stdout.readline()  # start.py prints it as soon as it has started the runners
    try:
        running.ports = json.loads(line)
    except json.JSONDecodeError:
        running.stop()
        raise AssertionError(
            f"the reference start.py did not print its ports: {line!r} (logs in {run_dir})"
        ) from None
    return running


@contextmanager
def reference_processes(run_dir: Path, *options: str) -> Iterator[ReferenceProcesses]:
    """`start_reference` as a context: the processes are stopped on the way out."""
    running = start_reference(run_dir, *options)
    try:
        yield running
    finally:
        running.stop()


async def connect_when_ready(connect: Callable[[], Awaitable[T]], timeout_s: float = 30) -> tuple[T, int]:
    """``connect()`` retried while it fails with `ConnectionClosedError` (at most ``timeout_s``); the
    result and the number of attempts. The reference's ports are not listening at first, and until its
    proxy has read its state from the (fake) chain, about a second after it starts, it drops client
    connections; the reference's own client retries too."""
    deadline = time.monotonic() + timeout_s
    attempts = 0
    while True:
        attempts += 1
        try:
            return await connect(), attempts
        except ConnectionClosedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)  # polling a process we do not control for readiness


@dataclass(kw_only=True)
class ReferenceClient(ReferenceProcesses):
    """A running reference client runner (and router); ``http_port`` serves the OpenAI API."""

    http_port: int
    socks_port: int
    fake_ton: dict[str, Any]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1"

    def connection_failures(self) -> list[str]:
        """Why the client runner dropped its proxy connections so far (its own words), oldest first."""
        return FAILURE.findall(self.log())


@contextmanager
def reference_client(run_dir: Path, proxy_port: int) -> Iterator[ReferenceClient]:
    """The reference router and client runner (test mode, fake TON) whose one registered proxy is
    ``127.0.0.1:proxy_port`` (a COCOON client port)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    socks, http, rpc = free_ports(3)
    ton = reference_config("fake-ton-config.json")
    for proxy in ton["registered_proxies"]:
        proxy["address"] = f"127.0.0.1:{proxy_port} 127.0.0.1:{proxy_port}"  # workers', clients' address
    fake_ton = run_dir / "fake-ton-config.json"
    fake_ton.write_text(json.dumps(ton, indent=2))
    client = reference_config("client-config.json")
    client.update(
        http_port=http,
        rpc_port=rpc,
        connect_to_proxy_via=f"127.0.0.1:{socks}",
        ton_config_filename=str(run_dir / "global.config.json"),
    )
    client_config = run_dir / "client-config.json"
    client_config.write_text(json.dumps(client, indent=2))
    running = ReferenceClient(run_dir, http_port=http, socks_port=socks, fake_ton=ton)
    argv = {
        "router": [str(REFERENCE / "bin" / "router"), "-S", f"{socks}@any", "--serialize-info"],
        "client": [
            str(REFERENCE / "bin" / "client-runner"),
            "--config",
            str(client_config),
            "-v3",
            "--disable-ton",
            str(fake_ton),
        ],
    }
    try:
        for name, args in argv.items():
            with open(run_dir / f"{name}.log", "wb") as log:
                running.processes[name] = subprocess.Popen(
                    args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        yield running
    finally:
        running.stop()


@contextmanager
def reference_network(run_dir: Path, engine: str) -> Iterator[ReferenceClient]:
    """The reference's own proxy, router, worker (in front of the engine at ``host:port``) and client
    runner, as its ``start.py --worker ENGINE --client`` starts them: the baseline of `reference_client`."""
    with reference_processes(run_dir, "--worker", engine, "--client") as started:
        assert started.ports.get("client_http"), f"start.py started no client runner: {started.ports}"
        http, socks = int(started.ports["client_http"]), int(started.ports["socks"])
        ton = reference_config("fake-ton-config.json")
        yield ReferenceClient(
            run_dir, started.processes, started.ports, http_port=http, socks_port=socks, fake_ton=ton
        )
