"""Our network against anchors, side by side in one run: CPU and latency per request and per token.

Every setup answers from the same fake OpenAI backend (raw asyncio, its own process, never the
bottleneck; `anchors/backend.py`), driven by the same raw-asyncio keep-alive load generator
(`anchors/loadgen.py`, in this process; its own CPU is reported apart and counted in no setup):

* direct: the backend alone;
* minimal aiohttp, 1 hop: one forwarding process (`anchors/hop.py`);
* minimal aiohttp, 3 hops, TLS on 2: three forwarding processes chained, the two inner legs over
  TLS (stdlib ``ssl``): the Python floor for a chain of three processes, the reference for ratios;
* ours: `cocoon up` with one worker on the backend: client -> proxy -> worker as separate processes
  (`anchors/ours.py`: RA-TLS, metering, settlement on the local chain, receipts, e2e as `cocoon up`);
  ``--e2e required off`` runs it twice, end-to-end encryption required and off, interleaved like
  the rest, so what the encryption costs is measured side by side (each gets its own goal ratios);
* nginx (one worker) and LiteLLM (its SDK behind uvicorn) when installed; skipped with a note if not.

Scenarios: c=1 and c=32 non-streamed; c=32 streamed as fast as the backend writes ("burst"); c=1 and
c=128 streamed at 10 ms per token ("paced": time to the first token shows buffering; CPU per token
event is what relaying costs). Answers are 16 tokens (paced: 5 at c=1, 20 at c=128). CPU is
``utime + stime`` from ``/proc/<pid>/stat`` summed over the setup's processes over the measured
window; RSS is read at the end of the c=32 non-streamed window. Setups are interleaved (each
scenario runs on every setup in turn, the order rotating per repetition); figures are medians over
the repetitions. Other work shares the machine: read the ratios, not the absolute figures.

Then the local chain's transactions per second (`bench_chain.py`) and settlement fees per 1,000
requests (`bench_settlement_fees.py`), run as they are.

    .venv/bin/python benchmarks/bench_anchors.py [--quick] [--reps 3] [--duration 1.5] [--e2e required [off]]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "anchors"))

from backend import MODEL  # noqa: E402
from loadgen import Scenario, request_bytes, run  # noqa: E402
from ours import setup_name, start_ours  # noqa: E402
from procstat import cpu_s, rss_mib  # noqa: E402
from setups import Setup, direct, litellm, nginx, one_hop, start_backend, stop, three_hops  # noqa: E402
from stats import Grid, Measurement, Summary, median, percentile, ratio, ratio_table, table  # noqa: E402

SCENARIOS = (
    Scenario("c1", 1, False, 16),
    Scenario("c32", 32, False, 16),
    Scenario("s32", 32, True, 16),
    Scenario("p1", 1, True, 5, pace_ms=10),
    Scenario("p128", 128, True, 20, pace_ms=10),
)
FLOOR = "minimal aiohttp, 3 hops, TLS on 2 (the floor)"


def measure(setup: Setup, scenario: Scenario, duration: float, backend_pid: int) -> Measurement:
    """One window of ``scenario`` on ``setup``, with the CPU its processes used during it."""
    raw = request_bytes(setup.host, setup.port, setup.path, setup.model, scenario)
    watched = {**setup.chain, **{f"side:{k}": v for k, v in setup.side.items()}}
    watched |= {"side:backend": backend_pid, "side:loadgen": os.getpid()}
    before: dict[str, float] = {}

    def start() -> None:
        before.update({name: cpu_s(pid) for name, pid in watched.items()})

    result = asyncio.run(
        run(
            setup.host,
            setup.port,
            raw,
            scenario,
            duration,
            warmup=1 if scenario.pace_ms else 2,
            on_start=start,
        )
    )
    used = {name: cpu_s(pid) - before[name] for name, pid in watched.items()}
    if result.first_error:
        print(f"  ! {setup.name} {scenario.name}: {result.errors} errors, first: {result.first_error}")
    return Measurement(
        ok=result.ok,
        errors=result.errors,
        elapsed=result.elapsed,
        tokens=scenario.tokens,
        p50_latency=percentile(result.latencies, 50),
        p50_ttft=percentile(result.ttfts, 50),
        cpu={n: v for n, v in used.items() if not n.startswith("side:")},
        rss={n: rss_mib(pid) for n, pid in setup.chain.items()},
        side_cpu={n.removeprefix("side:"): v for n, v in used.items() if n.startswith("side:")},
    )


def start_setups(tmp: Path, backend_port: int, e2e_modes: list[str], setups: list[Setup]) -> list[str]:
    """Start every setup that can run here into ``setups`` (table order, so that whatever started is
    stopped even if a later one fails); return a note for each one skipped."""
    setups.append(direct(backend_port, MODEL))
    notes = []
    if shutil.which("nginx"):
        setups.append(nginx(tmp, backend_port, MODEL))
    else:
        notes.append("nginx: skipped, not installed (install it, e.g. `apt-get install nginx`, to compare)")
    setups.append(one_hop(tmp, backend_port, MODEL))
    setups.append(three_hops(tmp, backend_port, MODEL))
    for e2e in e2e_modes:
        setups.append(start_ours(tmp, backend_port, e2e, slots=max(s.concurrency for s in SCENARIOS)))
    if all(importlib.util.find_spec(m) for m in ("litellm", "uvicorn", "starlette")):
        setups.append(litellm(tmp, backend_port, MODEL))
    else:
        notes.append("LiteLLM: skipped, not installed (`pip install litellm uvicorn` in the venv to compare)")
    return notes


def details(grid: Grid, setups: list[Setup]) -> None:
    """CPU per request of each process and of the processes off the request path."""
    print("\nCPU µs per request by process (median), c=32 non-stream | c=32 stream | c=128 paced:")
    for setup in setups:
        parts = [
            ", ".join(f"{n} {v:,.0f}" for n, v in grid[setup.name][k].process_cpu_us().items()) or "—"
            for k in ("c32", "s32", "p128")
        ]
        print(f"  {setup.name}: {' | '.join(parts)}")
    print("\nOff the measured chain, CPU µs per request at c=32 non-stream | c=32 stream (median):")
    for setup in setups:
        by = grid[setup.name]
        sides = by["c32"].runs[0].side_cpu if by["c32"].runs else {}
        parts = []
        for name in sides:
            figures = [
                median([m.per_request_us(m.side_cpu.get(name, 0.0)) for m in by[k].runs])
                for k in ("c32", "s32")
            ]
            parts.append(f"{name} {figures[0]:,.0f} | {figures[1]:,.0f}")
        print(f"  {setup.name}: {'; '.join(parts)}")


def goals(grid: Grid, e2e: str, litellm_name: str | None) -> None:
    """The issue's goals as ratios measured in this run, for our setup with end-to-end mode ``e2e``."""
    ours = setup_name(e2e)

    def med(setup: str, scenario: str, figure: str) -> float:
        return grid[setup][scenario].med(lambda m: float(getattr(m, figure)))

    print(f"\nOurs (e2e {e2e}) against the floor and LiteLLM, this run:")
    for scenario, figure, label in (
        ("c1", "cpu_per_request_us", "CPU per request, c=1 non-stream"),
        ("c32", "cpu_per_request_us", "CPU per request, c=32 non-stream"),
        ("s32", "cpu_per_request_us", "CPU per stream, c=32 burst"),
        ("p128", "cpu_per_token_us", "CPU per paced token event, c=128"),
        ("s32", "rate", "streams/s at c=32"),
    ):
        print(
            f"  {label}: {ratio(med(ours, scenario, figure), med(FLOOR, scenario, figure)):.2f}× the floor's"
        )
    added = {s: med(s, "c1", "p50_latency") - med("direct", "c1", "p50_latency") for s in (ours, FLOOR)}
    print(f"  added p50 at c=1: {ratio(added[ours], added[FLOOR]):.2f}× the floor's")
    ttft = (med(ours, "p1", "p50_ttft") - med("direct", "p1", "p50_ttft")) * 1e3
    print(f"  paced TTFT over direct: {ttft:+.2f} ms")
    if litellm_name:
        for scenario, label in (("c32", "requests/s"), ("s32", "streams/s")):
            times = ratio(med(ours, scenario, "rate"), med(litellm_name, scenario, "rate"))
            print(f"  {label} at c=32: {times:.1f}× LiteLLM's")


def chain_benchmarks(quick: bool) -> None:
    """The local chain's transactions per second and settlement fees, as their own scripts print them."""
    for script, extra in (
        ("bench_chain.py", ["--n", "100" if quick else "500"]),
        ("bench_settlement_fees.py", []),
    ):
        print(f"\n$ benchmarks/{script} {' '.join(extra)}".rstrip())
        done = subprocess.run([sys.executable, str(HERE / script), *extra], capture_output=True, text=True)
        print(done.stdout.rstrip() or done.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short repetition (under a minute)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (medians over them)")
    parser.add_argument("--duration", type=float, default=1.5, help="seconds per measurement window")
    parser.add_argument(
        "--e2e",
        nargs="+",
        choices=["required", "off"],
        default=["required"],
        help="our client's e2e mode; `--e2e required off` runs ours both ways, side by side (what the "
        "end-to-end encryption costs)",
    )
    parser.add_argument("--no-chain", action="store_true", help="skip the chain and settlement benchmarks")
    args = parser.parse_args()
    reps, duration = (1, 0.5) if args.quick else (args.reps, args.duration)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        backend, backend_port = start_backend(tmp)
        setups: list[Setup] = []
        try:
            e2e_modes = list(dict.fromkeys(args.e2e))
            notes = start_setups(tmp, backend_port, e2e_modes, setups)
            took = time.monotonic() - started
            print(f"started {len(setups)} setups in {took:.0f} s; {reps} × {duration} s windows", flush=True)
            grid: Grid = {s.name: {sc.name: Summary() for sc in SCENARIOS} for s in setups}
            for rep in range(reps):
                order = setups[rep % len(setups) :] + setups[: rep % len(setups)]
                for scenario in SCENARIOS:
                    for setup in order:
                        grid[setup.name][scenario.name].runs.append(
                            measure(setup, scenario, duration, backend.pid)
                        )
                print(f"repetition {rep + 1}/{reps} done at {time.monotonic() - started:.0f} s", flush=True)
        finally:
            for setup in setups:
                stop(setup.processes, graceful=setup.graceful)
            stop([backend])
    litellm_name = next((s.name for s in setups if s.name.startswith("LiteLLM")), None)
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nMedians of {reps} interleaved repetitions, {duration} s windows, the same fake backend")
    print(f"(load average at the end: {load} on {os.cpu_count()} cores; other work shares the machine):\n")
    print(table(grid))
    print(f"\nRatios to the floor ({FLOOR}):\n")
    print(ratio_table(grid, FLOOR, label="floor"))
    if litellm_name:
        print(f"\nRatios to {litellm_name}:\n")
        print(ratio_table(grid, litellm_name, label="LiteLLM"))
    for e2e in e2e_modes:
        goals(grid, e2e, litellm_name)
    details(grid, setups)
    lg = median([m.per_request_us(m.side_cpu["loadgen"]) for by in grid.values() for m in by["c32"].runs])
    print(f"\nThe load generator's own CPU (not counted): about {lg:,.0f} µs per c=32 non-stream request.")
    for note in notes:
        print(note)
    if not args.no_chain:
        chain_benchmarks(args.quick)
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
