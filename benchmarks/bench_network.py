"""Added latency of the network (client -> proxy -> worker -> engine and back) versus the engine alone.

Starts `cocoon up --engine fake` twice as real processes (the same code path as production, RA-TLS
with fake quotes on every hop): one network whose client seals every request end to end to the worker
(``e2e = required``, `cocoon up`'s default), one with end-to-end encryption off. It times, interleaved
in one run so all see the same machine load:

* direct: a chat request straight to the fake engine;
* e2e: the same request through the end-to-end encrypted network's client daemon;
* plain: the same through the other network, where the proxy reads the request.

Both non-streamed and streamed (time to the last byte and to the first content chunk); then the same
for the Responses API (``/v1/responses``, which the fake engine serves itself). Prints p50/p90, the
added latency (network p50 - direct p50), what end-to-end encryption adds (e2e p50 - plain p50), and
the CPU time per request of each network's client and workers (from ``/proc``, over all its requests).

    .venv/bin/python benchmarks/bench_network.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the wait helper netproc uses
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

from netproc import RunningNet, node_pids, start_net, stop_net

CONTENT_MARKS = (b'"content":"', b'"response.output_text.delta"')
"""What starts a content event: a chat chunk's text, or a Responses API text delta."""


def _is_content(line: bytes) -> bool:
    return any(mark in line for mark in CONTENT_MARKS) and b'"content":""' not in line


def one(url: str, body: bytes, stream: bool) -> tuple[float, float]:
    """(seconds to the first content byte, seconds to the end) of one request."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    first = 0.0
    with urllib.request.urlopen(request, timeout=30) as resp:
        if stream:
            for line in resp:
                if not first and _is_content(line):
                    first = time.perf_counter() - started
        else:
            resp.read()
    total = time.perf_counter() - started
    return (first or total), total


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes ``pids``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def role_pids(net: RunningNet, role: str) -> list[int]:
    """The processes of ``net`` that run ``cocoon <role> run``."""
    found = []
    for pid in node_pids(net):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if role.encode() in argv and b"run" in argv:
            found.append(pid)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per kind and path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sealed = start_net(Path(tmp) / "e2e", engine="fake", workers=2, env={"COCOON_E2E": "required"})
        plain = start_net(Path(tmp) / "plain", engine="fake", workers=2, env={"COCOON_E2E": "off"})
        nets = {"e2e": sealed, "plain": plain}
        try:
            chat = {"model": sealed.model, "messages": [{"role": "user", "content": "a b c d e f g h"}]}
            responses = {"model": sealed.model, "input": "a b c d e f g h"}
            cpu_rows = []
            for path, stream in ((p, s) for p in ("chat/completions", "responses") for s in (False, True)):
                engine = f"{sealed.engine_url}/v1/{path}"
                body: dict[str, object] = dict(chat if path == "chat/completions" else responses)
                if stream:
                    body["stream"] = True
                raw = json.dumps(body).encode()
                urls = {name: f"{net.base_url}/{path}" for name, net in nets.items()}
                for _ in range(10):  # warm up connections and caches
                    one(engine, raw, stream)
                    for url in urls.values():
                        one(url, raw, stream)
                pids = {
                    name: {r: role_pids(net, r) for r in ("client", "worker")} for name, net in nets.items()
                }
                before = {name: {r: cpu_s(p) for r, p in roles.items()} for name, roles in pids.items()}
                times: dict[str, list[tuple[float, float]]] = {"direct": [], "e2e": [], "plain": []}
                for _ in range(args.n):
                    times["direct"].append(one(engine, raw, stream))
                    for name, url in urls.items():
                        times[name].append(one(url, raw, stream))
                kind = ("chat " if path == "chat/completions" else "resp ") + (
                    "stream" if stream else "whole "
                )
                for name in nets:
                    used = {r: (cpu_s(p) - before[name][r]) / args.n * 1e6 for r, p in pids[name].items()}
                    cpu_rows.append(
                        f"{kind} {name:<5} CPU per request: client {used['client']:6.0f} us, "
                        f"workers {used['worker']:6.0f} us"
                    )
                for label, idx in (("last byte", 1), ("first chunk", 0)) if stream else (("response", 1),):
                    d, e, w = ([x[idx] for x in times[k]] for k in ("direct", "e2e", "plain"))
                    base, pw, pe = pct(d, 50), pct(w, 50), pct(e, 50)
                    print(
                        f"{kind} {label:<11} direct p50 {base:6.2f} ms | "
                        f"plain p50 {pw:6.2f} p90 {pct(w, 90):6.2f} ms (added {pw - base:5.2f}) | "
                        f"e2e p50 {pe:6.2f} p90 {pct(e, 90):6.2f} ms (added {pe - base:5.2f}) | "
                        f"e2e adds {pe - pw:5.2f} ms p50 ({pe / pw:.2f}x plain)"
                    )
            print()
            for row in cpu_rows:
                print(row)
        finally:
            for net in nets.values():
                stop_net(net)


if __name__ == "__main__":
    main()
