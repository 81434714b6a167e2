"""The proxy's COCOON client port: proof of work, handshake, and latency added versus our own client port.

One in-process network (the roles built by their composition roots, as ``cocoon up`` builds them): a
proxy with its COCOON port, a worker in front of the fake engine (over HTTP), and two client daemons,
one talking our protocol to the proxy's client port, one ``protocol = "cocoon"`` talking COCOON's TL
protocol to the COCOON port (``e2e = off`` on both: the proxy reads both requests). Measured in one run:

* PoW: solving the COCOON challenge at difficulty 20 (the reference proxy's) for several fixed salts,
  the pure search as a client runs it off its event loop: mean, min, max (and hashes per second);
* handshake to the COCOON port at a low difficulty: TCP + PoW + TLS 1.3 + ``tcp.connect`` (with the PoW
  solve time included and excluded), then ``client.connectToProxy`` + short auth;
* latency: the same chat request, whole and streamed, straight to the fake engine, through our client
  port and through the COCOON port (interleaved, so all three see the same machine load), each through
  its client daemon's OpenAI API: p50/p90, the added latency over the engine, and the COCOON port's
  extra over our own client port.

    .venv/bin/python benchmarks/bench_cocoon_port.py [--n 500] [--salts 16] [--handshakes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the wait helper

from cocoon.client.build import build_client
from cocoon.client.network import ProxyPool
from cocoon.engine.fake import RunningFakeEngine, start_fake_engine
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.net.cocoon_conn import connect_cocoon
from cocoon.node.identity import make_identity
from cocoon.node.running import RunningNode
from cocoon.payments.params import Nano
from cocoon.proxy.build import build_proxy
from cocoon.proxy.service import ProxyService
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.tl import pow as tl_pow
from cocoon.tl.types import (
    ClientAuthorizationWithProxySuccess,
    ClientAuthorizeWithProxyShort,
    ClientConnectedToProxy,
    ClientConnectToProxy,
    ClientParams,
)
from cocoon.worker.build import build_worker
from waiting import wait_until

POW_DIFFICULTY = 20
HANDSHAKE_DIFFICULTY = 12
"""Low enough that the handshake's own cost shows (2^12 hashes: a few milliseconds)."""
OWNER = "0:" + "11" * 32
CHAT = {"model": FAKE_MODEL, "messages": [{"role": "user", "content": "a b c d e f g h"}], "max_tokens": 16}
CONTENT_MARK = b'"content":"'


def ms(values: list[float], q: int) -> float:
    """The q-th percentile of ``values`` (seconds) in milliseconds."""
    if len(values) < 2:
        return values[0] * 1000
    return statistics.quantiles(values, n=100)[q - 1] * 1000


# --- proof of work ----------------------------------------------------------------------------------


def bench_pow(salts: int) -> float:
    """Solve ``salts`` challenges; print the figures and return the mean solve time (seconds)."""
    times, hashes = [], 0
    for i in range(salts):
        salt = hashlib.sha256(b"bench salt %d" % i).digest()[: tl_pow.SALT_SIZE]
        started = time.perf_counter()
        nonce = tl_pow.solve(salt, POW_DIFFICULTY)
        times.append(time.perf_counter() - started)
        hashes += nonce + 1  # the search starts at 0
        assert tl_pow.check(salt, nonce, POW_DIFFICULTY)
    rate = hashes / sum(times)
    print(
        f"PoW difficulty {POW_DIFFICULTY} ({salts} salts): mean {statistics.mean(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s; {rate / 1e6:.2f} M hashes/s, so "
        f"{2**POW_DIFFICULTY / rate:.2f} s expected (2^{POW_DIFFICULTY} hashes)"
    )
    return statistics.mean(times)


# --- the network ------------------------------------------------------------------------------------


@dataclass
class Net:
    engine: RunningFakeEngine
    proxy: RunningNode[ProxyService]
    ours: RunningNode[ProxyPool]
    cocoon: RunningNode[ProxyPool]

    @property
    def cocoon_port(self) -> int:
        assert self.proxy.service.cocoon_port is not None
        return self.proxy.service.cocoon_port.port


@asynccontextmanager
async def network(tmp: Path) -> AsyncIterator[Net]:
    async with AsyncExitStack() as stack:
        engine = await start_fake_engine()
        stack.push_async_callback(engine.close)
        proxy = await stack.enter_async_context(
            build_proxy(
                ProxyConfig(
                    worker_port=0,
                    client_port=0,
                    http_port=0,
                    cocoon_pow_difficulty=HANDSHAKE_DIFFICULTY,
                    data_dir=str(tmp / "proxy"),
                    local_client_credit_nano=Nano(10**15),
                )
            )
        )
        service = proxy.service
        assert service.cocoon_port is not None
        worker = await stack.enter_async_context(
            build_worker(
                WorkerConfig(
                    proxies=[f"127.0.0.1:{service.worker_listener.port}"],
                    engine_url=engine.url,
                    http_port=0,
                    data_dir=str(tmp / "worker"),
                )
            )
        )
        ours = await stack.enter_async_context(
            build_client(
                ClientConfig(
                    proxies=[f"127.0.0.1:{service.client_listener.port}"],
                    e2e="off",
                    http_port=0,
                    data_dir=str(tmp / "ours"),
                )
            )
        )
        cocoon = await stack.enter_async_context(
            build_client(
                ClientConfig(
                    proxies=[],
                    cocoon_proxies=[f"127.0.0.1:{service.cocoon_port.port}"],
                    cocoon_proxy_policy="fake",  # verify the proxy's attestation, as our client port does
                    e2e="off",
                    http_port=0,
                    data_dir=str(tmp / "cocoon"),
                )
            )
        )
        tasks = [asyncio.create_task(node.run()) for node in (proxy, worker, ours, cocoon)]
        try:
            await wait_until(lambda: len(service.workers.candidates()) == 1, 30, what="the worker joined")
            yield Net(engine, proxy, ours, cocoon)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# --- handshake --------------------------------------------------------------------------------------


async def bench_handshake(net: Net, count: int, pow20_s: float) -> None:
    identity = make_identity("", "fake")
    connect, solve, hello = [], [], []
    for _ in range(count):
        conn = await connect_cocoon("127.0.0.1", net.cocoon_port, identity)
        assert conn.handshake is not None and conn.handshake.difficulty == HANDSHAKE_DIFFICULTY
        connect.append(conn.handshake.total_seconds)
        solve.append(conn.handshake.pow_seconds)
        started = time.perf_counter()
        answer = await conn.query(ClientConnectToProxy(ClientParams(OWNER, True, 1, 4), 0), timeout=10)
        assert isinstance(answer, ClientConnectedToProxy)
        authorized = await conn.query(ClientAuthorizeWithProxyShort(b""), timeout=10)
        assert isinstance(authorized, ClientAuthorizationWithProxySuccess), authorized
        hello.append(time.perf_counter() - started)
        await conn.aclose("benchmark")
    without = [c - s for c, s in zip(connect, solve, strict=True)]
    whole_in = [c + h for c, h in zip(connect, hello, strict=True)]
    whole_ex = [c + h for c, h in zip(without, hello, strict=True)]
    print(f"\nHandshake to the COCOON port, PoW difficulty {HANDSHAKE_DIFFICULTY} ({count} connections):")
    for label, values in (
        ("PoW solve alone", solve),
        ("TCP + PoW + TLS + tcp.connect", connect),
        ("TCP + TLS + tcp.connect (PoW excluded)", without),
        ("connectToProxy + short auth", hello),
        ("whole handshake, PoW included", whole_in),
        ("whole handshake, PoW excluded", whole_ex),
    ):
        print(f"  {label:<40} p50 {ms(values, 50):7.2f} ms  p90 {ms(values, 90):7.2f} ms")
    print(
        f"  so at difficulty {POW_DIFFICULTY}, a new connection costs the client about "
        f"{pow20_s + ms(whole_ex, 50) / 1000:.2f} s ({pow20_s:.2f} s PoW mean + {ms(whole_ex, 50):.1f} ms)"
    )


# --- latency ----------------------------------------------------------------------------------------


async def one(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[float, float]:
    """(seconds to the first content chunk, seconds to the last byte) of one request."""
    started = time.perf_counter()
    first = 0.0
    async with http.post(url, json=body) as r:
        assert r.status == 200, (url, r.status, await r.text())
        if body.get("stream"):
            async for line in r.content:
                if not first and CONTENT_MARK in line and b'"content":""' not in line:
                    first = time.perf_counter() - started
        else:
            await r.read()
    total = time.perf_counter() - started
    return first or total, total


async def bench_latency(net: Net, n: int) -> None:
    urls = {
        "engine": f"{net.engine.url}/v1/chat/completions",
        "ours": f"http://127.0.0.1:{net.ours.http_port}/v1/chat/completions",
        "cocoon": f"http://127.0.0.1:{net.cocoon.http_port}/v1/chat/completions",
    }
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 60
        for url in urls.values():  # ready: the first answer (our client's proxy link, the PoW)
            while True:
                try:
                    await one(http, url, CHAT)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)  # a client daemon still connecting to its proxy
        print(f"\nLatency, chat completion from the fake engine ({n} requests per path, interleaved):")
        for stream in (False, True):
            body = CHAT | {"stream": True, "stream_options": {"include_usage": True}} if stream else CHAT
            for _ in range(10):  # warm up
                for url in urls.values():
                    await one(http, url, body)
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
            for _ in range(n):
                for name, url in urls.items():
                    times[name].append(await one(http, url, body))
            kind = "streamed" if stream else "whole   "
            for label, idx in (("last byte", 1), ("first chunk", 0)) if stream else (("response", 1),):
                e, o, c = ([t[idx] for t in times[k]] for k in ("engine", "ours", "cocoon"))
                base, po, pc = ms(e, 50), ms(o, 50), ms(c, 50)
                print(
                    f"  {kind} {label:<11} engine p50 {base:6.2f} | our client port p50 {po:6.2f} "
                    f"p90 {ms(o, 90):6.2f} (+{po - base:5.2f}) | COCOON port p50 {pc:6.2f} "
                    f"p90 {ms(c, 90):6.2f} (+{pc - base:5.2f}) | COCOON - ours {pc - po:+6.2f} ms p50 "
                    f"({pc / po:.2f}x), {ms(c, 90) - ms(o, 90):+6.2f} ms p90"
                )


async def run(args: argparse.Namespace, pow20_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with network(Path(tmp)) as net:
            await bench_handshake(net, args.handshakes, pow20_s)
            await bench_latency(net, args.n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="requests per kind and path")
    parser.add_argument("--salts", type=int, default=16, help="PoW challenges solved at difficulty 20")
    parser.add_argument("--handshakes", type=int, default=50, help="connections to the COCOON port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # COCOON answers carry none of our receipts; the client says so for each one, which is not news here.
    logging.getLogger("cocoon.client.receipts").setLevel(logging.ERROR)
    started = time.monotonic()
    pow20_s = bench_pow(args.salts)
    asyncio.run(run(args, pow20_s))
    print(f"\n(one run, {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
