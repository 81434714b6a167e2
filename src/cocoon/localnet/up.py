"""`cocoon up`: a whole local network on this machine, answering a real request.

Layout (DESIGN.md ports): engine 8000, proxy 11000/11001/11002, workers 12000 + 10*i, client 10000.
Every node is its own process started through the `cocoon` command with a generated TOML config in
`<data-dir>/config/`; logs go to `<data-dir>/logs/`. Ctrl-C stops everything (no orphans).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp

from cocoon.config import to_toml
from cocoon.errors import CocoonError, ConfigError
from cocoon.localnet.supervisor import ServiceSpec, Supervisor
from cocoon.payments.params import NANO_PER_TON
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig

EngineKind = Literal["builtin", "fake"]
DEMO_PROMPT = "In one sentence, what is the TON blockchain?"


@dataclass(frozen=True, slots=True)
class LocalNetPlan:
    """Everything `cocoon up` will start, derived from its options."""

    data_dir: Path
    engine: EngineKind
    engine_url: str | None
    workers: int = 2
    base_port: int = 0  # added to every default port (instance n: 10*n)
    client_credit_ton: int = 100

    @property
    def engine_port(self) -> int:
        return 8000 + self.base_port

    @property
    def client_port(self) -> int:
        return 10000 + self.base_port

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}/v1"


def _cocoon(*args: str) -> list[str]:
    return [sys.executable, "-m", "cocoon.cli.main", *args]


def _check_port_free(port: int, what: str) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(
                f"port {port} ({what}) is already in use; stop whatever listens there or run "
                "`cocoon up --instance N` to shift every port by 10*N"
            ) from exc


def service_specs(plan: LocalNetPlan) -> list[ServiceSpec]:
    """Write the node configs and return the services in start order."""
    cfg_dir = plan.data_dir / "config"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    b = plan.base_port
    specs: list[ServiceSpec] = []
    engine_url = plan.engine_url
    if engine_url is None:
        _check_port_free(plan.engine_port, "engine")
        engine_url = f"http://127.0.0.1:{plan.engine_port}"
        argv = _cocoon(
            "engine", "serve" if plan.engine == "builtin" else "fake", "--port", str(plan.engine_port)
        )
        specs.append(ServiceSpec("engine", argv, f"{engine_url}/v1/models", ready_timeout_s=180.0))
    proxy = ProxyConfig(
        worker_port=11001 + b,
        client_port=11002 + b,
        http_port=11000 + b,
        data_dir=str(plan.data_dir / "proxy"),
        local_client_credit_nano=plan.client_credit_ton * NANO_PER_TON,
    )
    specs.append(_node("proxy", cfg_dir, proxy, proxy.http_port))
    for i in range(1, plan.workers + 1):
        worker = WorkerConfig(
            proxies=[f"127.0.0.1:{proxy.worker_port}"],
            engine_url=engine_url,
            http_port=12000 + b + (i - 1),
            data_dir=str(plan.data_dir / f"worker-{i}"),
        )
        specs.append(_node(f"worker-{i}", cfg_dir, worker, worker.http_port, role="worker"))
    client = ClientConfig(
        proxies=[f"127.0.0.1:{proxy.client_port}"],
        http_port=plan.client_port,
        data_dir=str(plan.data_dir / "client"),
    )
    specs.append(_node("client", cfg_dir, client, client.http_port))
    for spec in specs[1 if plan.engine_url is None else 0 :]:
        assert spec.health_url is not None
        _check_port_free(int(spec.health_url.split(":")[2].split("/")[0]), spec.name)
    return specs


def _node(
    name: str,
    cfg_dir: Path,
    config: ClientConfig | ProxyConfig | WorkerConfig,
    http_port: int,
    role: str = "",
) -> ServiceSpec:
    role = role or name
    path = cfg_dir / f"{name}.toml"
    path.write_text(
        f"# written by `cocoon up`; edit and pass to `cocoon {role} run -c {path}`\n" + to_toml(config)
    )
    return ServiceSpec(name, _cocoon(role, "run", "-c", str(path)), f"http://127.0.0.1:{http_port}/healthz")


async def wait_for_workers(base_url: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
    """Poll the client's /v1/models until `count` workers are connected for some model."""
    deadline = time.monotonic() + timeout_s
    models: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                async with session.get(f"{base_url}/models") as resp:
                    models = (await resp.json()).get("data", [])
                    if any(len(m.get("workers", [])) >= count for m in models):
                        return models
            await asyncio.sleep(0.2)
    raise CocoonError(
        f"the workers did not register with the proxy within {timeout_s:.0f} s (models seen: {models}); "
        "see the logs of worker-* and proxy"
    )


@dataclass(frozen=True, slots=True)
class DemoAnswer:
    model: str
    text: str
    usage: dict[str, Any]
    seconds: float


async def demo_request(base_url: str, model: str, prompt: str = DEMO_PROMPT) -> DemoAnswer:
    """Send one chat request through the network, as any OpenAI client would."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session,
        session.post(f"{base_url}/chat/completions", json=body) as resp,
    ):
        answer = await resp.json()
        if resp.status != 200:
            raise CocoonError(f"the demo request failed with HTTP {resp.status}: {answer}")
    text = answer["choices"][0]["message"]["content"]
    return DemoAnswer(model, text, answer.get("usage", {}), time.monotonic() - started)


class LocalNet:
    """Start, watch and stop the local network."""

    def __init__(self, plan: LocalNetPlan, say: Callable[[str], None]) -> None:
        self.plan = plan
        self.say = say
        self.supervisor = Supervisor(plan.data_dir / "logs")

    async def start(self) -> list[dict[str, Any]]:
        # In dependency order, each ready before the next starts, so a failure names its culprit.
        for spec in service_specs(self.plan):
            self.say(f"starting {spec.name:<9} {' '.join(spec.argv[3:])}")
            t0 = time.monotonic()
            await self.supervisor.start(spec)
            await self.supervisor.wait_ready(spec.name)
            self.say(f"ready    {spec.name:<9} ({time.monotonic() - t0:.1f} s)")
        return await wait_for_workers(self.plan.openai_base_url, self.plan.workers, timeout_s=60)

    async def stop(self) -> None:
        await self.supervisor.stop_all()

    def status_rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for name, state in self.supervisor.services.items():
            url = state.spec.health_url or ""
            rows.append((name, str(state.process.pid), state.state, url.removesuffix("/healthz")))
        return rows
