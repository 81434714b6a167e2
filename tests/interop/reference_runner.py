"""The reference COCOON client runner (and its router) pointed at a proxy of our choice.

``start.py`` of the reference peer (``../shared/peers/cocoon-reference``) always starts the reference
proxy; a reference client in front of *our* proxy needs only the router (its SOCKS side does the proof
of work and TLS 1.3 towards the proxy, with the ``any`` policy) and the client runner in the
reference's test mode (fake TON). `reference_client` renders their configs into a temporary directory
the way ``start.py`` does, except that the fake TON config's one registered proxy names the client
port we give it, and starts the two binaries; `ReferenceClient` reads the client runner's log for why
a proxy connection failed, so a test can say how far the handshake got.

The fake TON config is the client's whole view of the root contract: the proxy must answer
``client.connectedToProxy`` with the proxy and client contract addresses the client derives from it
(our proxy does, given the same file as ``cocoon_fake_root``: `cocoon.ton.reference.fake_root`) and
accept its ``min_config_version`` (the config's ``version``; our proxy without a chain accepts any).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine, start_fake_engine
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService
from cocoon.roles import ProxyConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.worker.service import WorkerService
from waiting import wait_until

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "cocoon-reference"
ANSI = re.compile(rb"\x1b\[[0-9;]*m")
FAILURE = re.compile(r"failing connection \d+: (\[Error : -?\d+ : .*\])")


def cannot_run(*binaries: str) -> str | None:
    """Why the reference ``binaries`` cannot run here (None when each answers ``--help`` itself)."""
    if not (REFERENCE / "bin").is_dir():
        return f"the reference peer is not at {REFERENCE}"
    for binary in binaries:
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


@dataclass
class ReferenceClient:
    """A running reference router + client runner; ``http_port`` serves the OpenAI API."""

    run_dir: Path
    http_port: int
    socks_port: int
    fake_ton: dict[str, Any]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1"

    def log(self, name: str = "client") -> str:
        """A runner's log so far, without colour codes."""
        path = self.run_dir / f"{name}.log"
        return ANSI.sub(b"", path.read_bytes()).decode(errors="replace") if path.exists() else ""

    def connection_failures(self) -> list[str]:
        """Why the client runner dropped its proxy connections so far (its own words), oldest first."""
        return FAILURE.findall(self.log())

    def exited(self) -> str | None:
        """Which process exited, with its code, if one did."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return f"{name} exited {process.returncode}: {self.log(name)[-500:]}"
        return None

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


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
    running = ReferenceClient(run_dir, http, socks, ton)
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
    run_dir.mkdir(parents=True, exist_ok=True)
    base = free_base(PORT_OFFSETS)
    argv = [sys.executable, str(REFERENCE / "start.py"), str(run_dir), "--base", str(base)]
    process = subprocess.Popen(
        [*argv, "--worker", engine, "--client"], stdout=subprocess.PIPE, start_new_session=True
    )
    running = ReferenceClient(run_dir, base + 300, base + 116, reference_config("fake-ton-config.json"))
    running.processes["start.py"] = process
    try:
        assert process.stdout is not None
        ports = json.loads(process.stdout.readline() or b"{}")
        assert ports.get("client_http") == base + 300, f"start.py did not start: {ports}"
        yield running
    finally:
        running.stop()


PORT_OFFSETS = (0, 1, 2, 101, 102, 116, 200, 201, 300, 301)
"""The ports ``start.py --worker --client`` binds, from its base."""


def free_base(offsets: tuple[int, ...]) -> int:
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
class OurNetwork:
    """Our proxy (no chain: off-chain credit) with one worker on the fake engine, in this process."""

    proxy: ProxyService
    engine: RunningFakeEngine

    @property
    def cocoon_port(self) -> int:
        """The proxy's COCOON client port."""
        assert self.proxy.cocoon_port is not None
        return self.proxy.cocoon_port.port


@asynccontextmanager
async def our_network(tmp_path: Path, **config: Any) -> AsyncIterator[OurNetwork]:
    """Our proxy (COCOON port on, ``config`` on top) and a worker on the fake engine, its model joined."""
    engine = await start_fake_engine()
    ledger = Ledger(tmp_path / "proxy.db")
    settings: dict[str, Any] = {"worker_port": 0, "client_port": 0, "local_client_credit_nano": 10**12}
    proxy = ProxyService(
        ProxyConfig(**(settings | config)),
        make_identity("", "fake"),
        make_policy("fake"),
        make_policy("any"),
        ledger,
    )
    await proxy.start()
    worker_config = WorkerConfig(proxies=[f"127.0.0.1:{proxy.worker_listener.port}"], engine_url=engine.url)
    try:
        async with EngineClient(engine.url) as engine_client:
            worker = WorkerService(
                worker_config, engine_client, make_identity("", "fake"), make_policy("fake")
            )
            task = asyncio.create_task(worker.run())
            try:
                await wait_until(lambda: len(proxy.workers.candidates()) == 1, 20, what="the worker joined")
                yield OurNetwork(proxy, engine)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await proxy.aclose()
        await engine.close()
        ledger.close()
