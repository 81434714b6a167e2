"""A COCOON network spread over several hosts (network namespaces, see `netns_bed`).

Layout: the chain service on host ``chain``; proxies ``proxy-1``, ``proxy-2`` each on its own host;
workers ``worker-1..3`` each on its own host with its own fake engine on that host's loopback;
clients ``client-1``, ``client-2`` each on its own host, its OpenAI API on that host's loopback (the
app runs beside it). The root is deployed from the test and registers both proxies; workers and
clients take their proxies from the root, as on a real network.

Ports are fixed: every host has its own port space, so runs never clash (and none is a default port
of `cocoon up`). Every node's config is written by :func:`node_config`, the one place to adapt when
the nodes' listener settings change.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPResponse
from pathlib import Path
from typing import Any, TypeVar

from netns_bed import Hosts

from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.config import to_toml
from cocoon.localnet.chain import (
    LOCAL_TIMINGS,
    ROOT_OWNER,
    ChainPlan,
    default_funding,
    node_wallet_key,
    prepare_chain,
)
from cocoon.registry import RootOwner, local_params, register_proxy
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address
from cocoon.ton.chain import Chain
from cocoon.ton.data import ClientData, ProxyEndpoints, WorkerData
from cocoon.wallet import NodeWallet
from waiting import wait_until_sync

T = TypeVar("T")
MODEL = "fake-model"
CHAIN_PORT, ENGINE_PORT, CLIENT_HTTP = 23000, 28000, 20000
PROXY_HTTP, PROXY_WORKERS, PROXY_CLIENTS, WORKER_HTTP = 21000, 21001, 21002, 22000
NEVER = 10**15  # thresholds no test reaches: money moves only when a test forces settlement
PROXIES = ("proxy-1", "proxy-2")
WORKERS = ("worker-1", "worker-2", "worker-3")
CLIENTS = ("client-1", "client-2")
READY_S = 90.0


def request(
    method: str, url: str, body: Any = None, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One HTTP exchange: (status, parsed JSON body), also for error statuses."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw.startswith(b"{") else raw.decode(errors="replace")


@dataclass
class Node:
    """One process of the bed: what it is, where it runs, how to start it again."""

    name: str
    host: str
    argv: list[str]
    health: str  # URL reached from the node's own host
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Bed:
    """The running network; ``data_dir`` holds configs, logs, wallet keys and node state."""

    hosts: Hosts
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    root: str = ""
    answered: int = 0
    """Tokens of every request answered in full (the ``adjusted_tokens`` its client reported)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    checked: tuple[int, int, int] = (0, 0, 0)
    """(answered, charged, charged but never seen by the clients) at the last money check."""

    def addr(self, host: str) -> str:
        return self.hosts.addresses[host]

    @property
    def chain_url(self) -> str:
        return f"http://{self.addr('chain')}:{CHAIN_PORT}"

    # --- starting and stopping -------------------------------------------------------------------

    def start(self) -> None:
        """Make the hosts, start the chain, deploy the root, start every node and wait until the
        clients see all three workers."""
        self.hosts.create()
        for host in ("chain", *PROXIES, *WORKERS, *CLIENTS):
            self.hosts.add(host)
        chain_dir = str(self.data_dir / "chain")
        argv = _cocoon(
            "chain", "serve", "--host", self.addr("chain"), "--port", str(CHAIN_PORT), "--data-dir", chain_dir
        )
        self._launch(
            Node(
                "chain", "chain", argv, f"{self.chain_url}/api/v2/getAddressInformation?address=0:{'0' * 64}"
            )
        )
        self.root = self.on_chain("chain", self._deploy_root)
        for worker in WORKERS:
            argv = _cocoon("engine", "fake", "--port", str(ENGINE_PORT), "--chunks", "8")
            self._launch(Node(f"engine-{worker}", worker, argv, f"http://127.0.0.1:{ENGINE_PORT}/v1/models"))
        for name in (*PROXIES, *WORKERS, *CLIENTS):
            self._launch(self._node(name), wait=False)
        for name in (*PROXIES, *WORKERS, *CLIENTS):
            self.wait_ready(name)
        for proxy in PROXIES:
            self.wait_proxy_workers(proxy, len(WORKERS))
        for client in CLIENTS:
            self.wait_workers(client, len(WORKERS))
            self.wait_proxies(client)

    def wait_proxies(self, client: str, timeout_s: float = READY_S) -> None:
        """Until ``client`` has a paid channel (a deployed client contract) with both proxies."""

        def seen() -> bool:
            return len(self.client_get(client, "/payments")["channels"]) >= len(PROXIES)

        wait_until_sync(seen, timeout_s, what=f"{client} pays both proxies", poll_s=0.2)

    async def _deploy_root(self, chain: Chain) -> str:
        """Fund every wallet, deploy the root, allow the image and model, register both proxies."""
        nodes = [*PROXIES, *WORKERS, *CLIENTS]
        endpoints = [self.endpoints(p) for p in PROXIES]
        plan = ChainPlan(
            url=self.chain_url,
            data_dir=self.data_dir,
            funding=default_funding(nodes, 100),
            proxy=endpoints[0],
            image_hash=FAKE_IMAGE_HASH,
            params=local_params(),
        )
        ready = await prepare_chain(plan, [MODEL])
        wallet = NodeWallet(chain, plan.key(ROOT_OWNER), LOCAL_TIMINGS)
        owner = RootOwner(chain, wallet, ready.root.root)
        snapshot = await owner.apply([register_proxy(e) for e in endpoints[1:]])
        assert sorted(snapshot.proxies.values(), key=str) == sorted(endpoints, key=str), snapshot.proxies
        return ready.root.root.raw

    def endpoints(self, proxy: str) -> ProxyEndpoints:
        return ProxyEndpoints(f"{self.addr(proxy)}:{PROXY_WORKERS}", f"{self.addr(proxy)}:{PROXY_CLIENTS}")

    def _node(self, name: str) -> Node:
        role = name.split("-")[0]
        path = self.data_dir / "config" / f"{name}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        config = node_config(self, name)
        path.write_text(to_toml(config))
        port = {"proxy": PROXY_HTTP, "worker": WORKER_HTTP, "client": CLIENT_HTTP}[role]
        # Stats and admin listen on each host's loopback (admin_host's default), reached from inside it.
        health = f"http://127.0.0.1:{port}/healthz"
        return Node(name, name, _cocoon(role, "run", "-c", str(path)), health, dict(self.env))

    def _launch(self, node: Node, wait: bool = True) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{node.name}.log").open("ab") as log:
            node.process = subprocess.Popen(
                self.hosts.argv(node.host, node.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **node.env},
            )
        self.nodes[node.name] = node
        if wait:
            self.wait_ready(node.name)

    def wait_ready(self, name: str, timeout_s: float = READY_S) -> None:
        node = self.nodes[name]

        def ready() -> bool:
            assert node.process is not None
            if node.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {node.process.returncode}:\n{self.log(name)}")
            with self.hosts.inside(node.host):
                try:
                    return request("GET", node.health, timeout=2)[0] == 200
                except OSError:
                    return False

        wait_until_sync(ready, timeout_s, what=f"{name} answers {node.health}", poll_s=0.2)

    def wait_workers(self, client: str, count: int, timeout_s: float = READY_S) -> None:
        """Until ``client`` lists at least ``count`` workers for the model."""

        def seen() -> bool:
            try:
                models = self.client_get(client, "/v1/models")["data"]
            except (OSError, KeyError):
                return False
            return bool(models) and len(models[0]["workers"]) >= count

        wait_until_sync(seen, timeout_s, what=f"{client} sees {count} workers", poll_s=0.2)

    def wait_proxy_workers(self, proxy: str, count: int, timeout_s: float = READY_S) -> None:
        """Until ``proxy`` has at least ``count`` enabled workers."""

        def seen() -> bool:
            return sum(w["enabled"] for w in self.stats(proxy)["workers"]) >= count

        wait_until_sync(seen, timeout_s, what=f"{proxy} has {count} workers", poll_s=0.2)

    def kill(self, name: str) -> int:
        """SIGKILL a node (kill -9); returns its pid."""
        process = self.nodes[name].process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return process.pid

    def restart(self, name: str, env: dict[str, str] | None = None) -> None:
        """Start a stopped node again with the same config and data (``env``: its environment from
        now on, else as before), and wait until it is healthy."""
        node = self.nodes[name]
        assert node.process is not None and node.process.poll() is not None, f"{name} still runs"
        if env is not None:
            node.env = env
        self._launch(node)

    def terminate(self, name: str) -> None:
        """Stop a node as an operator would (SIGTERM) and wait until it has exited."""
        process = self.nodes[name].process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    def stop(self) -> list[str]:
        """SIGTERM every node, then remove the hosts; returns processes that had to be killed."""
        for node in reversed(self.nodes.values()):
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        stuck = []
        for node in self.nodes.values():
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stuck.append(node.name)
                node.process.kill()
                node.process.wait()
        return stuck + self.hosts.remove_all()

    def log(self, name: str) -> str:
        path = self.data_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- reaching the nodes ----------------------------------------------------------------------

    def ask_many(self, count: int, parallel: int = 6, max_tokens: int = 20) -> list[tuple[int, Any]]:
        """``count`` requests, ``parallel`` at a time, alternating between the clients."""
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = [
                pool.submit(self.ask, CLIENTS[i % len(CLIENTS)], f"question {i}", max_tokens)
                for i in range(count)
            ]
            return [f.result() for f in futures]

    def open_stream(self, client: str, max_tokens: int, timeout: float = 30.0) -> HTTPResponse:
        """A streamed chat completion through ``client``, opened (its socket stays on that host)."""
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "count slowly"}],
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        req = urllib.request.Request(
            f"{self.client_url(client)}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with self.hosts.inside(client):
            resp: HTTPResponse = urllib.request.urlopen(req, timeout=timeout)
        return resp

    def worker_named(self, worker_id: str) -> str:
        """The bed's name of the worker whose id is ``worker_id``."""
        return next(w for w in WORKERS if self.stats(w)["worker_id"] == worker_id)

    def engine_stats(self, worker: str) -> Any:
        """The fake engine's counters on ``worker``'s host (GET /fake/stats)."""
        with self.hosts.inside(worker):
            status, body = request("GET", f"http://127.0.0.1:{ENGINE_PORT}/fake/stats")
        assert status == 200, body
        return body

    def engines(self, settings: dict[str, Any]) -> None:
        """:meth:`engine` on every worker's host."""
        for worker in WORKERS:
            self.engine(worker, settings)

    def stray_processes(self) -> dict[str, list[int]]:
        """Per host, processes running there that are not the bed's live nodes (none expected)."""
        stray = {}
        for host in self.hosts.addresses:
            ours = {
                n.process.pid
                for n in self.nodes.values()
                if n.host == host and n.process is not None and n.process.poll() is None
            }
            extra = sorted(set(self.hosts.pids(host)) - ours)
            if extra:
                stray[host] = extra
        return stray

    def client_url(self, client: str) -> str:
        """The client's API as the app on its host reaches it (each client host has its own loopback)."""
        return f"http://127.0.0.1:{CLIENT_HTTP}"

    def client_get(self, client: str, path: str) -> Any:
        with self.hosts.inside(client):
            status, body = request("GET", f"{self.client_url(client)}{path}", timeout=5)
        assert status == 200, (client, path, status, body)
        return body

    def ask(self, client: str, text: str, max_tokens: int = 20, timeout: float = 60) -> tuple[int, Any]:
        """A chat completion through ``client``: (status, body)."""
        body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}
        with self.hosts.inside(client):
            status, answer = request(
                "POST", f"{self.client_url(client)}/v1/chat/completions", body, timeout=timeout
            )
        if status == 200:
            with self._lock:
                self.answered += answer["usage"]["adjusted_tokens"]
        return status, answer

    def stats(self, name: str) -> Any:
        """A node's /jsonstats."""
        port = PROXY_HTTP if name.startswith("proxy") else WORKER_HTTP
        with self.hosts.inside(name):
            status, body = request("GET", f"http://127.0.0.1:{port}/jsonstats", timeout=5)
        assert status == 200, body
        return body

    def admin_headers(self, name: str) -> dict[str, str]:
        """Node ``name``'s admin token (made at its first start): its money-moving POSTs ask for it."""
        token = (self.data_dir / name / "admin.token").read_text().strip()
        return {"Authorization": f"Bearer {token}"}

    def engine(self, worker: str, settings: dict[str, Any]) -> None:
        """Change the fake engine's settings on ``worker``'s host (POST /fake/config)."""
        with self.hosts.inside(worker):
            status, body = request("POST", f"http://127.0.0.1:{ENGINE_PORT}/fake/config", settings)
        assert status == 200, body

    def settle(self, proxy: str) -> Any:
        """Force ``proxy`` to settle now: charge every client, pay every worker (POST /request/charge)."""
        with self.hosts.inside(proxy):
            status, body = request(
                "POST",
                f"http://127.0.0.1:{PROXY_HTTP}/request/charge",
                timeout=90,
                headers=self.admin_headers(proxy),
            )
        assert status == 200, body
        return body

    def on_chain(self, host: str, action: Callable[[Chain], Awaitable[T]]) -> T:
        """Run ``action(chain)`` against the chain service, from ``host``."""

        async def run() -> T:
            async with ToncenterChain(self.chain_url) as chain:
                return await action(chain)

        with self.hosts.inside(host):
            return asyncio.run(run())

    def data(self, address: str) -> Any:
        async def read(chain: Chain) -> Any:
            state = await chain.get_account(Address.parse(address))
            assert state.data is not None, f"{address} is not deployed"
            return state.data

        return self.on_chain("chain", read)

    def client_tokens(self, address: str) -> int:
        return ClientData.from_cell(self.data(address)).tokens_used

    def worker_tokens(self, address: str) -> int:
        return WorkerData.from_cell(self.data(address)).tokens


def _client_gap(bed: Bed, contract: str, ledger: dict[str, Any]) -> int:
    """Tokens the proxy's ledger holds for the clients beyond their own records."""
    gap = 0
    for client in CLIENTS:
        payments = bed.client_get(client, "/payments")
        mine = payments["channels"].get(contract)
        if mine is not None:
            proxy_says = ledger.get(f"client:{payments['wallet']}", {"tokens_max": 0})["tokens_max"]
            gap += proxy_says - mine["counters"]["tokens_max"]
    return gap


def _clients_caught_up(bed: Bed, contract: str, ledger: dict[str, Any]) -> bool:
    return _client_gap(bed, contract, ledger) == 0


def data_lines(resp: HTTPResponse) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream."""
    for raw in resp:
        line = raw.decode().strip()
        if line.startswith("data: "):
            yield line.removeprefix("data: ")


def node_config(bed: Bed, name: str) -> ClientConfig | ProxyConfig | WorkerConfig:
    """The config of node ``name``: its host's address, the chain, the root, brisk intervals."""
    chain: dict[str, Any] = {
        "chain_url": bed.chain_url,
        "root_address": bed.root,
        "wallet_key": str(node_wallet_key(bed.data_dir, name)),
        "chain": "local",
        "root_poll_interval_s": 2.0,
        "wallet_poll_interval_s": 0.1,
        "data_dir": str(bed.data_dir / name),
    }
    if name.startswith("proxy"):
        return ProxyConfig(
            host=bed.addr(name),
            worker_port=PROXY_WORKERS,
            client_port=PROXY_CLIENTS,
            cocoon_port=-1,
            http_port=PROXY_HTTP,
            chain_poll_interval_s=0.5,
            commit_interval_s=1.0,
            settle_interval_s=1.0,
            charge_threshold_nano=NEVER,
            payout_threshold_nano=NEVER,
            withdraw_threshold_nano=NEVER,
            queue_timeout_s=5.0,
            **chain,
        )
    if name.startswith("worker"):
        return WorkerConfig(
            host=bed.addr(name),
            engine_url=f"http://127.0.0.1:{ENGINE_PORT}",
            http_port=WORKER_HTTP,
            proxy_watch_interval_s=5.0,
            health_interval_s=1.0,
            health_timeout_s=2.0,
            **chain,
        )
    return ClientConfig(
        host="127.0.0.1",  # the app runs on the client's own host
        http_port=CLIENT_HTTP,
        e2e="required",
        payments_interval_s=2.0,
        **chain,
    )


def _cocoon(*args: str) -> list[str]:
    return [sys.executable, "-m", "cocoon.cli.main", *args]


def check_money(bed: Bed, lost_bound: int = 0) -> int:
    """Settle both proxies and check the money since the last check; returns the tokens charged since.

    - every client contract and worker contract on chain holds exactly what its proxy's durable
      ledger says, all of it committed to chain (nothing a worker served is left unpaid);
    - each client's and each worker's own record for that proxy is the proxy's ledger, or less by
      what a fault cut (at most ``lost_bound`` since the last check for the clients);
    - over the network, clients were charged exactly what workers were paid for;
    - the tokens charged since the last check are at least the tokens of every request answered in
      full since then and at most ``lost_bound`` more (requests cut by a fault, each test's bound).
    """
    charged = paid = unseen = 0
    for proxy in PROXIES:
        bed.settle(proxy)
        chain = bed.stats(proxy)["chain"]
        contract, ledger = chain["proxy_contract"], chain["channels"]  # keyed by "<kind>:<owner>"
        for channel in ledger.values():
            assert channel["committed_to_chain"] == channel["tokens_max"], (proxy, ledger)
        # a client records an answer's tokens as its proxy's charge note arrives: give it a moment
        with contextlib.suppress(TimeoutError):
            caught_up = functools.partial(_clients_caught_up, bed, contract, ledger)
            wait_until_sync(caught_up, 6, what="the clients caught up")
        parties = [("client", c, bed.client_get(c, "/payments")) for c in CLIENTS]
        parties += [("worker", w, bed.stats(w)["payouts"]) for w in WORKERS]
        seen = set()
        for kind, name, own in parties:
            key = f"{kind}:{own['wallet']}"
            mine = own["channels"].get(contract)
            if mine is None:  # never connected to this proxy: the proxy owes it nothing either
                assert key not in ledger, (name, proxy, ledger)
                continue
            seen.add(key)
            proxy_says = ledger.get(key, {"tokens_max": 0})["tokens_max"]
            if kind == "client":
                on_chain = bed.client_tokens(mine["contract"])
                # an answer cut by a fault is in the proxy's ledger but never reached the client
                own_record = mine["counters"]["tokens_max"]
                assert own_record <= proxy_says, (name, proxy, mine, proxy_says)
                unseen += proxy_says - own_record
                charged += on_chain
            else:
                on_chain = bed.worker_tokens(mine["contract"])
                # the worker's own count survives only to its last save: a kill -9 may lose its tail
                # (a restarted worker has none until the proxy's next payout message)
                served = (mine["counters"] or {"tokens_max": 0})["tokens_max"]
                assert served <= proxy_says, (name, proxy, mine, proxy_says)
                paid += on_chain
            assert on_chain == proxy_says, (name, proxy, on_chain, proxy_says)
        assert set(ledger) <= seen, f"{proxy} has channels of unknown parties: {set(ledger) - seen}"
    assert charged == paid, f"clients were charged for {charged} tokens, workers paid for {paid}"
    answered = bed.answered - bed.checked[0]
    since = charged - bed.checked[1]
    assert answered <= since <= answered + lost_bound, (
        f"{since} tokens charged since the last check for {answered} answered (at most {lost_bound} more)"
    )
    assert unseen - bed.checked[2] <= lost_bound, f"clients saw {unseen} tokens less than they were charged"
    bed.checked = (bed.answered, charged, unseen)
    return since
