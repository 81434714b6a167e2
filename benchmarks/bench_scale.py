"""Scale of one proxy: many connected workers, many concurrent paced streams through one client.

Starts `cocoon up --engine fake --workers 1` (end-to-end encryption off, so the proxy routes every
request over all its workers) and `scale_workers.py`, which connects more workers to the same proxy
from one process (real RA-TLS connections, the real worker protocol, the same fake engine). Then:

1. **Proxy CPU per request vs connected workers** (``--cpu-workers``, default 2, 200, 1000 in all):
   non-streamed requests at concurrency 8, the proxy's CPU time from ``/proc`` divided by requests.
   With ``--before SRC`` (the ``src`` directory of another checkout, e.g. a worktree of an older
   commit) the same network is also started from that code, and the two are measured interleaved,
   round after round, so both see the same machine load: read the ratio.
2. **Scale grid** (``--grid-workers`` x ``--grid-streams``): M streamed requests started at
   ``--rate`` per second, each paced by the fake engine (a chunk every ``--pace-ms``), all open at
   once at the peak; prints TTFT p50/p99 (which include one pace interval), errors, the most streams
   open at once, the peak RSS of proxy and client and the proxy's open files.

The benchmark raises its soft limit of open files to the hard limit (children inherit it).

    .venv/bin/python benchmarks/bench_scale.py [--before /path/to/old/src] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

from netproc import RunningNet, node_pids, start_net, stop_net  # noqa: E402

CONTENT_MARK = b'"content":"'


@dataclass
class Setup:
    """One network (from one source tree) and its worker driver."""

    name: str
    src: Path
    net: RunningNet
    driver: subprocess.Popen[bytes]
    workers: int = 1

    def pid(self, role: str) -> int:
        for pid in node_pids(self.net):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if role.encode() in argv and b"run" in argv:
                return pid
        raise RuntimeError(f"no {role} process in {self.name}")

    def grow(self, total: int) -> None:
        """Connect workers until the proxy has ``total`` (one is `cocoon up`'s own)."""
        if total <= self.workers:
            return
        assert self.driver.stdin is not None and self.driver.stdout is not None
        self.driver.stdin.write(f"{total - 1}\n".encode())
        self.driver.stdin.flush()
        line = self.driver.stdout.readline().decode()
        if not line.startswith("up "):
            raise RuntimeError(f"the worker driver of {self.name} failed: {line!r}")
        deadline = time.monotonic() + 120
        while _registered(self.net) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the proxy registered {_registered(self.net)} of {total}")
            time.sleep(0.2)
        self.workers = total


def _registered(net: RunningNet) -> int:
    with urllib.request.urlopen(f"{net.base_url}/models", timeout=30) as resp:
        models = json.load(resp)["data"]
    return len(models[0]["workers"]) if models else 0


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def start(name: str, src: Path, data_dir: Path, max_active: int, shared_owner: bool, loop: str) -> Setup:
    env = {"PYTHONPATH": str(src), "COCOON_E2E": "off", **({"COCOON_LOOP": loop} if loop else {})}
    net = start_net(data_dir, engine="fake", workers=1, env=env)
    proxy = f"127.0.0.1:{11001 + net.base}"
    argv = [sys.executable, str(HERE / "scale_workers.py"), "--proxy", proxy, "--engine", net.engine_url]
    driver = subprocess.Popen(
        [*argv, "--max-active", str(max_active), *(["--shared-owner"] if shared_owner else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, **env},
    )
    return Setup(name, src, net, driver)


def stop(setup: Setup) -> None:
    if setup.driver.stdin is not None:
        setup.driver.stdin.close()
    try:
        setup.driver.wait(timeout=30)
    except subprocess.TimeoutExpired:
        setup.driver.kill()
    stop_net(setup.net)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def engine_config(setup: Setup, session: aiohttp.ClientSession, **changes: object) -> None:
    async with session.post(f"{setup.net.engine_url}/fake/config", json=changes) as resp:
        resp.raise_for_status()


def body(model: str, stream: bool) -> dict[str, object]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "one two three"}]}


@dataclass
class Run:
    ttft: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    open_now: int = 0
    open_peak: int = 0


async def one(session: aiohttp.ClientSession, setup: Setup, stream: bool, run: Run) -> None:
    started = time.perf_counter()
    run.open_now += 1
    run.open_peak = max(run.open_peak, run.open_now)
    try:
        async with session.post(
            f"{setup.net.base_url}/chat/completions", json=body(setup.net.model, stream)
        ) as resp:
            if resp.status != 200:
                run.errors.append(f"HTTP {resp.status}: {(await resp.text())[:160]}")
                return
            if not stream:
                await resp.read()
                return
            first, done = 0.0, False
            async for line in resp.content:
                if not first and CONTENT_MARK in line and b'"content":""' not in line:
                    first = time.perf_counter() - started
                done = done or line.startswith(b"data: [DONE]")
            if not done or not first:
                run.errors.append("stream ended without content or [DONE]")
                return
            run.ttft.append(first)
    except (aiohttp.ClientError, TimeoutError) as exc:
        run.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        run.open_now -= 1


async def idle_cpu(setups: list[Setup], seconds: float = 5.0) -> dict[str, float]:
    """Each proxy's CPU milliseconds per second with no request running (keepalives of its workers),
    all measured over the same window."""
    pids = {s.name: s.pid("proxy") for s in setups}
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    return {name: (cpu_s(pid) - before[name]) / elapsed * 1000 for name, pid in pids.items()}


async def cpu_per_request(
    session: aiohttp.ClientSession, setup: Setup, requests: int, idle_ms_per_s: float = 0.0
) -> float:
    """Proxy CPU microseconds per non-streamed request, at concurrency 8, less what it spends idle
    over the same time (``idle_ms_per_s``)."""
    run = Run()
    queue = iter(range(requests))

    async def lane() -> None:
        for _ in queue:
            await one(session, setup, False, run)

    pid = setup.pid("proxy")
    before, started = cpu_s(pid), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(8)))
    if run.errors:
        print(f"  {setup.name}: {len(run.errors)} errors, e.g. {run.errors[0]}")
    idle = idle_ms_per_s / 1000 * (time.perf_counter() - started)
    return (cpu_s(pid) - before - idle) / requests * 1e6


async def cpu_row(
    session: aiohttp.ClientSession,
    setups: list[Setup],
    others: list[Setup],
    n: int,
    args: argparse.Namespace,
) -> None:
    """One row of the CPU table: every setup measured in turn, round after round."""
    cost: dict[str, list[float]] = {s.name: [] for s in setups}
    for s in setups:
        await cpu_per_request(session, s, 50)  # warm up
    idle = await idle_cpu(setups)
    for _ in range(args.rounds):
        for s in setups:
            cost[s.name].append(await cpu_per_request(session, s, args.requests, idle[s.name]))
    med = {name: statistics.median(v) for name, v in cost.items()}
    row = f"| {n} | " + " | ".join(f"{med[s.name]:,.0f}" for s in setups)
    row += "".join(f" | {med['before'] / med[o.name]:.2f}x" for o in others)
    row += " | " + " | ".join(f"{idle[s.name]:.1f}" for s in setups)
    print(row + " |", flush=True)


async def paced(
    session: aiohttp.ClientSession, setup: Setup, streams: int, rate: float, pace_ms: float
) -> dict[str, object]:
    ramp_s = streams / rate
    chunks = max(3, math.ceil((ramp_s + 8.0) / (pace_ms / 1000)))  # all still open when the last starts
    await engine_config(setup, session, delay_ms=pace_ms, chunks=chunks)
    proxy, client = setup.pid("proxy"), setup.pid("client")
    run = Run()
    peak = {"proxy": rss_mib(proxy), "client": rss_mib(client), "fds": float(open_files(proxy))}

    async def sample() -> None:
        while True:
            peak["proxy"] = max(peak["proxy"], rss_mib(proxy))
            peak["client"] = max(peak["client"], rss_mib(client))
            peak["fds"] = max(peak["fds"], float(open_files(proxy)))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    tasks = []
    for i in range(streams):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(session, setup, True, run)))
    await asyncio.gather(*tasks)
    sampler.cancel()
    await engine_config(setup, session, delay_ms=0.0, chunks=8)
    ttft = sorted(run.ttft) or [math.nan]
    return {
        "ttft_p50_ms": ttft[len(ttft) // 2] * 1000,
        "ttft_p99_ms": ttft[min(len(ttft) - 1, int(len(ttft) * 0.99))] * 1000,
        "errors": len(run.errors),
        "first_error": run.errors[0] if run.errors else "",
        "open_peak": run.open_peak,
        "proxy_rss_mib": peak["proxy"],
        "client_rss_mib": peak["client"],
        "proxy_fds": int(peak["fds"]),
        "chunks": chunks,
    }


async def main_async(args: argparse.Namespace) -> None:
    hard = raise_open_files()
    print(f"open files: soft limit raised to the hard limit, {hard}")
    repo_src = HERE.parent / "src"
    trees = [("this", repo_src)] if not args.tree else [tuple(t.split("=", 1)) for t in args.tree]
    trees = [(name, Path(src)) for name, src in trees]
    if args.before:
        trees.append(("before", Path(args.before)))
    cpu_workers = [int(n) for n in args.cpu_workers.split(",")]
    grid_workers = [int(n) for n in args.grid_workers.split(",")]
    grid_streams = [int(n) for n in args.grid_streams.split(",")]
    max_active = args.max_active or max(8, math.ceil(max(grid_streams) * 1.25 / min(grid_workers)))
    with tempfile.TemporaryDirectory() as tmp:
        setups = [start(n, src, Path(tmp) / n, max_active, args.shared_owner, args.loop) for n, src in trees]
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=600)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                print(
                    f"\n## proxy CPU per request vs connected workers ({args.requests} requests, c=8, "
                    f"medians of {args.rounds} interleaved rounds, less each proxy's idle CPU meanwhile)\n"
                )
                others = [s for s in setups if s.name != "before"] if args.before else []
                print(
                    "| workers | "
                    + " | ".join(f"{s.name} µs/req" for s in setups)
                    + "".join(f" | before/{s.name}" for s in others)
                    + " | "
                    + " | ".join(f"{s.name} idle ms/s" for s in setups)
                    + " |"
                )
                print("|---" * (2 * len(setups) + 1 + len(others)) + "|")
                grid_setups = [s for s in setups if s.name in args.grid.split(",")]
                grid_rows: dict[str, list[str]] = {s.name: [] for s in grid_setups}
                for n in sorted(set(cpu_workers) | set(grid_workers)):  # workers only ever join
                    for s in setups:
                        s.grow(n)
                    if n in cpu_workers:
                        await cpu_row(session, setups, others, n, args)
                    if n not in grid_workers:
                        continue
                    for s in grid_setups:
                        for m in grid_streams:
                            r = await paced(session, s, m, args.rate, args.pace_ms)
                            grid_rows[s.name].append(
                                f"| {n} | {m} | {r['open_peak']} | {r['ttft_p50_ms']:,.0f} | "
                                f"{r['ttft_p99_ms']:,.0f} | {r['errors']} | {r['proxy_rss_mib']:,.0f} | "
                                f"{r['client_rss_mib']:,.0f} | {r['proxy_fds']} |"
                                + (f" {r['first_error']}" if r["errors"] else "")
                            )
                            print(f"  grid {s.name}: {grid_rows[s.name][-1]}", flush=True)
                for s in grid_setups:
                    print(
                        f"\n## scale grid ({s.name}): paced streams (a chunk every {args.pace_ms:.0f} ms, "
                        f"started at {args.rate:.0f}/s), {max_active} slots per driver worker\n"
                    )
                    print(
                        "| workers | streams | open at peak | TTFT p50 ms | TTFT p99 ms | errors "
                        "| proxy RSS MiB | client RSS MiB | proxy fds |"
                    )
                    print("|---|---|---|---|---|---|---|---|---|")
                    print("\n".join(grid_rows[s.name]), flush=True)
        finally:
            for s in setups:
                stop(s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="", help="src directory of another checkout to compare")
    parser.add_argument("--tree", action="append", default=[], help="name=src to measure (default: this)")
    parser.add_argument("--cpu-workers", default="2,200,1000")
    parser.add_argument("--requests", type=int, default=300, help="requests per CPU measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grid-workers", default="10,100,1000")
    parser.add_argument("--grid-streams", default="100,1000,5000")
    parser.add_argument("--grid", default="this", help="comma-separated setup names to run the grid on")
    parser.add_argument("--rate", type=float, default=150.0, help="streams started per second")
    parser.add_argument("--pace-ms", type=float, default=4000.0, help="fake engine pause per chunk")
    parser.add_argument("--max-active", type=int, default=0, help="slots per driver worker (0: enough)")
    parser.add_argument("--loop", default="", help="COCOON_LOOP for the nodes (asyncio: no uvloop)")
    parser.add_argument("--shared-owner", action="store_true", help="all driver workers of one owner")
    parser.add_argument("--quick", action="store_true", help="a small run: 2,20 workers, 50,200 streams")
    args = parser.parse_args()
    if args.quick:
        args.cpu_workers, args.grid_workers, args.grid_streams = "2,20", "10,20", "50,200"
        args.requests, args.rounds, args.pace_ms = 100, 1, 1000.0
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
