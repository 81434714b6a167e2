"""`cocoon up`: a whole local network on this machine, answering a real request.

Layout (DESIGN.md ports): chain 13000, engine 8000, proxy 11000/11001/11002 (+ 11003 for
COCOON-protocol clients), workers 12000 + 10*i, client 10000. The chain starts first; before the proxy
starts, :mod:`cocoon.localnet.chain` funds every node's wallet and deploys the root (see there).
Every node is its own process started through the `cocoon` command with a generated TOML config in
`<data-dir>/config/`; logs go to `<data-dir>/logs/`. Ctrl-C stops everything (no orphans).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import aiohttp
import msgspec

from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.config import to_toml
from cocoon.errors import ChainError, CocoonError, ConfigError
from cocoon.localnet.chain import (
    ChainPlan,
    ChainReady,
    default_funding,
    node_wallet_key,
    prepare_chain,
    wallet_balances,
)
from cocoon.localnet.supervisor import ServiceSpec, Supervisor
from cocoon.node.demo_vectors import COLLATERAL_FILE, DEMO_ENV, QUOTE_FILE, TdxVectorsDemo, load_demo
from cocoon.payments.params import format_ton
from cocoon.registry import local_params
from cocoon.roles import ClientConfig, E2EMode, ProxyConfig, WorkerConfig
from cocoon.ton.backend import ChainBackend
from cocoon.ton.data import ProxyEndpoints

EngineKind = Literal["builtin", "fake"]
Attestation = Literal["fake", "tdx-vectors"]
BUILTIN_SLOTS_PER_WORKER = 2
"""Slots of the shared built-in engine each worker gets unless ``--slots`` says otherwise (CPU inference:
more at once only slows each answer)."""
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
    """TON the client's wallet gets beyond fees: it pays for requests through the client contract it
    deploys and tops up with the proxy (no off-chain credit: the proxy settles on the local chain)."""
    e2e: E2EMode = "required"
    """The client's end-to-end encryption: every local worker has a key, so nothing less is needed."""
    slots: int | None = None
    """Requests each worker serves at the same time (its ``max_active``); None: 2 of the shared
    built-in engine each, else the worker's own default."""
    attestation: Attestation = "fake"
    """``tdx-vectors``: the demo of `cocoon.node.demo_vectors` (recorded quotes, a local PCCS)."""
    vectors_dir: Path | None = None
    """Where the recorded vectors are (``tdx-vectors`` only)."""

    @property
    def pccs_port(self) -> int:
        """The local PCCS of the ``tdx-vectors`` demo."""
        return 13081 + self.base_port

    def demo(self) -> TdxVectorsDemo | None:
        """The recorded vectors of the ``tdx-vectors`` demo (`ConfigError` if they are missing)."""
        if self.attestation != "tdx-vectors":
            return None
        if self.vectors_dir is None:
            raise ConfigError(
                "--attestation tdx-vectors needs the recorded vectors: pass --vectors DIR (or set "
                f"COCOON_VECTORS) to a directory holding {QUOTE_FILE} and {COLLATERAL_FILE}"
            )
        return load_demo(self.vectors_dir)

    @property
    def shares_builtin_engine(self) -> bool:
        """Whether the workers share the built-in engine `cocoon up` starts (and split its slots)."""
        return self.engine == "builtin" and self.engine_url is None

    @property
    def slots_per_worker(self) -> int:
        """Slots of the shared built-in engine each worker gets (its ``max_active``)."""
        return self.slots if self.slots is not None else BUILTIN_SLOTS_PER_WORKER

    @property
    def engine_slots(self) -> int:
        """Slots the built-in engine runs: each worker's own, side by side."""
        return self.workers * self.slots_per_worker

    @property
    def engine_port(self) -> int:
        return 8000 + self.base_port

    @property
    def chain_port(self) -> int:
        return 13000 + self.base_port

    @property
    def chain_url(self) -> str:
        return f"http://127.0.0.1:{self.chain_port}"

    def chain_plan(self) -> ChainPlan:
        """Keys, balances and registry entries the chain must hold before the nodes start."""
        nodes = ["proxy", *(f"worker-{i}" for i in range(1, self.workers + 1)), "client"]
        b = self.base_port
        demo = self.demo()
        return ChainPlan(
            url=self.chain_url,
            data_dir=self.data_dir,
            funding=default_funding(nodes, self.client_credit_ton),
            proxy=ProxyEndpoints(f"127.0.0.1:{11001 + b}", f"127.0.0.1:{11002 + b}"),
            image_hash=FAKE_IMAGE_HASH,
            params=local_params(),
            worker_image_hash=demo.image_hash if demo is not None else None,
        )

    @property
    def client_port(self) -> int:
        return 10000 + self.base_port

    @property
    def cocoon_port(self) -> int:
        """The proxy's port for clients speaking COCOON's own protocol (reference clients, SDKs)."""
        return 11003 + self.base_port

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}/v1"


def _cocoon(*args: str) -> list[str]:
    return [sys.executable, "-m", "cocoon.cli.main", *args]


def _check_port_free(port: int, what: str) -> None:
    with socket.socket() as sock:
        # As our servers do: connections of a network stopped a moment ago (TIME_WAIT) must not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    chain = plan.chain_plan()
    specs: list[ServiceSpec] = [_chain_spec(plan)]
    demo = plan.demo()
    env: dict[str, str] = {}
    tdx: dict[str, Any] = {}
    if demo is not None:  # the demo's PCCS first; every node gets the variable that turns the demo on
        specs.append(_pccs_spec(plan, demo))
        env = {DEMO_ENV: str(plan.vectors_dir)}
        tdx = {"worker_policy": "tdx", "pccs_url": f"http://127.0.0.1:{plan.pccs_port}"}
    engine_url = plan.engine_url
    if engine_url is None:
        _check_port_free(plan.engine_port, "engine")
        engine_url = f"http://127.0.0.1:{plan.engine_port}"
        argv = _cocoon(
            "engine", "serve" if plan.engine == "builtin" else "fake", "--port", str(plan.engine_port)
        )
        if plan.shares_builtin_engine:
            argv += ["--slots", str(plan.engine_slots)]
        specs.append(ServiceSpec("engine", argv, f"{engine_url}/v1/models", ready_timeout_s=180.0))
    proxy = ProxyConfig(
        worker_port=11001 + b,
        client_port=11002 + b,
        cocoon_port=plan.cocoon_port,
        http_port=11000 + b,
        data_dir=str(plan.data_dir / "proxy"),
        **_chain_fields(plan, chain, "proxy"),
        chain_poll_interval_s=LOCAL_CHAIN_POLL_S,
        **tdx,
    )
    specs.append(_node("proxy", cfg_dir, proxy, proxy.http_port, env=env))
    for i in range(1, plan.workers + 1):
        worker = WorkerConfig(
            proxies=[f"127.0.0.1:{proxy.worker_port}"],
            engine_url=engine_url,
            # An engine named on the command line is the user's choice; this network's attestation is
            # fake, so there is no attested VM for prompts to leave.
            engine_remote_ok=plan.engine_url is not None,
            proxy_watch_interval_s=LOCAL_PROXY_WATCH_S,
            http_port=12000 + b + (i - 1),
            data_dir=str(plan.data_dir / f"worker-{i}"),
            **_chain_fields(plan, chain, f"worker-{i}"),
        )
        if plan.shares_builtin_engine or plan.slots is not None:
            # With the shared engine, its own slots: one worker's load never queues the other's.
            worker = msgspec.structs.replace(worker, max_active=plan.slots_per_worker)
        specs.append(_node(f"worker-{i}", cfg_dir, worker, worker.http_port, role="worker", env=env))
    client = ClientConfig(
        proxies=[f"127.0.0.1:{proxy.client_port}"],
        http_port=plan.client_port,
        data_dir=str(plan.data_dir / "client"),
        e2e=plan.e2e,
        **_chain_fields(plan, chain, "client"),
        payments_interval_s=LOCAL_PAYMENTS_INTERVAL_S,
        **tdx,
    )
    specs.append(_node("client", cfg_dir, client, client.http_port, env=env))
    _check_port_free(plan.cocoon_port, "proxy COCOON port")
    for spec in specs:
        if spec.name != "engine":
            assert spec.health_url is not None
            _check_port_free(int(spec.health_url.split(":")[2].split("/")[0]), spec.name)
    return specs


def _pccs_spec(plan: LocalNetPlan, demo: TdxVectorsDemo) -> ServiceSpec:
    """`cocoon attest collateral serve` of the demo's recorded collateral (Intel's PCCS v4 API)."""
    argv = _cocoon("attest", "collateral", "serve", str(demo.collateral_file), "--port", str(plan.pccs_port))
    health = f"http://127.0.0.1:{plan.pccs_port}/sgx/certification/v4/rootcacrl"
    return ServiceSpec("pccs", argv, health, ready_timeout_s=30.0)


def _chain_spec(plan: LocalNetPlan) -> ServiceSpec:
    """`cocoon chain serve` on the wall clock, its accounts under the local network's data dir."""
    argv = _cocoon(
        "chain", "serve", "--port", str(plan.chain_port), "--data-dir", str(plan.data_dir / "chain")
    )
    health = f"{plan.chain_url}/api/v2/getAddressInformation?address=0:{'0' * 64}"
    return ServiceSpec("chain", argv, health, ready_timeout_s=60.0)


class _ChainFields(TypedDict):
    chain_url: str
    root_address: str
    wallet_key: str
    chain: ChainBackend
    root_poll_interval_s: float
    wallet_poll_interval_s: float


LOCAL_CHAIN_POLL_S = 0.5
"""The proxy's chain poll on the local chain (no request limit, a message is included as it arrives):
each role polls it faster than the defaults, which keep to a public toncenter's limits."""
LOCAL_PAYMENTS_INTERVAL_S = 2.0
"""The client's upkeep round on the local chain."""
LOCAL_PROXY_WATCH_S = 5.0
"""How often a worker reads its proxies' contracts on the local chain (a close is noticed in seconds)."""


def _chain_fields(plan: LocalNetPlan, chain: ChainPlan, node: str) -> _ChainFields:
    """The config fields that point a node at the local chain, the root and its wallet key, and the
    local chain's brisk polling."""
    return {
        "chain_url": plan.chain_url,
        "root_address": chain.root.raw,
        "wallet_key": str(node_wallet_key(plan.data_dir, node)),
        "chain": "local",
        "root_poll_interval_s": 5.0,
        "wallet_poll_interval_s": 0.1,
    }


def _node(
    name: str,
    cfg_dir: Path,
    config: ClientConfig | ProxyConfig | WorkerConfig,
    http_port: int,
    role: str = "",
    env: dict[str, str] | None = None,
) -> ServiceSpec:
    role = role or name
    path = cfg_dir / f"{name}.toml"
    path.write_text(
        f"# written by `cocoon up`; edit and pass to `cocoon {role} run -c {path}`\n" + to_toml(config)
    )
    health = f"http://127.0.0.1:{http_port}/healthz"
    return ServiceSpec(name, _cocoon(role, "run", "-c", str(path)), health, env=env or {})


async def wait_for_workers(
    base_url: str, count: int, timeout_s: float, clock: Clock = SYSTEM_CLOCK
) -> list[dict[str, Any]]:
    """Poll the client's /v1/models until `count` workers are connected for some model."""
    deadline = clock.monotonic() + timeout_s
    models: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while clock.monotonic() < deadline:
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
    e2e: bool
    """Whether the client sent it end-to-end encrypted (its ``X-Cocoon-E2E`` answer header)."""


async def demo_request(
    base_url: str, model: str, prompt: str = DEMO_PROMPT, clock: Clock = SYSTEM_CLOCK
) -> DemoAnswer:
    """Send one chat request through the network, as any OpenAI client would (timed on ``clock``)."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
    started = clock.monotonic()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session,
        session.post(f"{base_url}/chat/completions", json=body) as resp,
    ):
        answer = await resp.json()
        if resp.status != 200:
            raise CocoonError(f"the demo request failed with HTTP {resp.status}: {answer}")
        e2e = resp.headers.get("X-Cocoon-E2E") == "1"
    text = answer["choices"][0]["message"]["content"]
    return DemoAnswer(model, text, answer.get("usage", {}), clock.monotonic() - started, e2e)


class LocalNet:
    """Start, watch and stop the local network; ``clock`` times the start-up steps it reports."""

    def __init__(self, plan: LocalNetPlan, say: Callable[[str], None], clock: Clock = SYSTEM_CLOCK) -> None:
        self.plan = plan
        self.say = say
        self.clock = clock
        self.supervisor = Supervisor(plan.data_dir / "logs", clock)
        self.chain: ChainReady | None = None
        self.balances: dict[str, int] = {}

    async def start(self) -> list[dict[str, Any]]:
        # In dependency order, each ready before the next starts, so a failure names its culprit.
        for spec in service_specs(self.plan):
            if spec.name == "proxy":
                await self._prepare_chain()
            self.say(f"starting {spec.name:<9} {' '.join(spec.argv[3:])}")
            t0 = self.clock.monotonic()
            await self.supervisor.start(spec)
            await self.supervisor.wait_ready(spec.name)
            self.say(f"ready    {spec.name:<9} ({self.clock.monotonic() - t0:.1f} s)")
        return await wait_for_workers(self.plan.openai_base_url, self.plan.workers, 120, self.clock)

    async def _prepare_chain(self) -> None:
        """Fund the wallets, deploy the root and register the proxy and the served models."""
        models = await engine_models(self._engine_url())
        self.chain = await prepare_chain(self.plan.chain_plan(), models, self.clock)
        self.say(
            f"chain    root {self.chain.root.root.raw} v{self.chain.root.version}, "
            f"{len(self.chain.wallets)} wallets funded ({self.chain.seconds:.1f} s)"
        )

    def _engine_url(self) -> str:
        return self.plan.engine_url or f"http://127.0.0.1:{self.plan.engine_port}"

    async def refresh_balances(self) -> None:
        """Read every node wallet's balance for the status table (keeps the last values on failure)."""
        if self.chain is not None:
            with contextlib.suppress(ChainError):
                self.balances = await wallet_balances(self.plan.chain_url, self.chain.wallets)

    async def stop(self) -> None:
        await self.supervisor.stop_all()

    def status_rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """(service, pid, state, url, slots, wallet balance in TON) per service."""
        rows = []
        for name, state in self.supervisor.services.items():
            url = (state.spec.health_url or "").split("/api/")[0].removesuffix("/healthz")
            balance = self.balances.get(name)
            shown = format_ton(balance) if balance is not None else ""
            rows.append((name, str(state.process.pid), state.state, url, self.slots_of(name), shown))
        return rows

    def slots_of(self, service: str) -> str:
        """How many requests a service decodes at once, as the status table says it."""
        plan = self.plan
        if not plan.shares_builtin_engine:
            return str(plan.slots) if plan.slots is not None and service.startswith("worker-") else ""
        if service == "engine":
            return f"{plan.engine_slots} (shared)"
        if service.startswith("worker-"):
            return f"{plan.slots_per_worker} of the engine's {plan.engine_slots}"
        return ""


async def engine_models(engine_url: str) -> list[str]:
    """Model ids the engine serves (the root must allow them before workers announce them)."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(f"{engine_url}/v1/models") as resp,
        ):
            body = await resp.json()
        return [str(m["id"]) for m in body.get("data", [])]
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        raise CocoonError(f"cannot list the engine's models at {engine_url}/v1/models: {exc}") from exc
