"""Added latency of the network (client -> proxy -> worker -> engine and back) versus the engine alone.

Starts `cocoon up --engine fake` as real processes (the same code path as production, RA-TLS with
fake quotes on every hop) and times, interleaved in one run so both see the same machine load:

* direct: a chat request straight to the fake engine;
* network: the same request through the client daemon's OpenAI API.

Both non-streamed and streamed (time to the last byte and to the first content chunk); then the same
for the Responses API (``/v1/responses``, which the fake engine serves itself). Prints p50/p90 and the
added latency (network p50 - direct p50).

    .venv/bin/python benchmarks/bench_network.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the wait helper netproc uses
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

from netproc import start_net, stop_net

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per kind and path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        net = start_net(Path(tmp), engine="fake", workers=2)
        try:
            chat = {"model": net.model, "messages": [{"role": "user", "content": "a b c d e f g h"}]}
            responses = {"model": net.model, "input": "a b c d e f g h"}
            for path, stream in ((p, s) for p in ("chat/completions", "responses") for s in (False, True)):
                engine = f"{net.engine_url}/v1/{path}"
                client = f"{net.base_url}/{path}"
                body: dict[str, object] = dict(chat if path == "chat/completions" else responses)
                if stream:
                    body["stream"] = True
                raw = json.dumps(body).encode()
                for _ in range(10):  # warm up connections and caches
                    one(engine, raw, stream), one(client, raw, stream)
                direct: list[tuple[float, float]] = []
                network: list[tuple[float, float]] = []
                for _ in range(args.n):
                    direct.append(one(engine, raw, stream))
                    network.append(one(client, raw, stream))
                kind = ("chat " if path == "chat/completions" else "resp ") + (
                    "stream" if stream else "whole "
                )
                for label, idx in (("last byte", 1), ("first chunk", 0)) if stream else (("response", 1),):
                    d = [x[idx] for x in direct]
                    w = [x[idx] for x in network]
                    print(
                        f"{kind} {label:<11} direct p50 {pct(d, 50):6.2f} ms p90 {pct(d, 90):6.2f} ms | "
                        f"network p50 {pct(w, 50):6.2f} ms p90 {pct(w, 90):6.2f} ms | "
                        f"added p50 {pct(w, 50) - pct(d, 50):6.2f} ms ({pct(w, 50) / pct(d, 50):.1f}x)"
                    )
        finally:
            stop_net(net)


if __name__ == "__main__":
    main()
