"""What end-to-end encryption costs per request, with a fresh HPKE encapsulation per wrap and with one
kept per worker key for a minute (`cocoon.e2e.kem_reuse`), measured side by side.

    .venv/bin/python benchmarks/bench_e2e.py

Prints, per operation, the median time of interleaved rounds both ways and their ratio: the client
sealing a request to one and to three worker keys, and the worker opening a request's envelope (its
checks, the key wrap, the body).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

from timing import paired

from cocoon.e2e.envelope import ISSUE_WINDOW_S, Routing, SealedRequest, open_request, seal_request
from cocoon.e2e.kem_reuse import ReusedEncapsulations
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache

ROUTING = Routing("bench-1", "Qwen3-8B", "/v1/chat/completions", 256, 1, 1000)
BODY = b'{"model":"Qwen3-8B","messages":[{"role":"user","content":"' + b"x" * 400 + b'"}]}'


def main(argv: list[str] | None = None) -> list[tuple[str, float, float]]:
    """Measure and print; returns the rows (operation, µs fresh, µs kept)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians over them)")
    args = parser.parse_args(argv)

    rings = [Keyring(os.urandom) for _ in range(3)]
    pairs = [ring.rotate(int(time.time()) + 3600) for ring in rings]
    keys = [(pair.key_id, pair.public_key) for pair in pairs]
    kept = ReusedEncapsulations(os.urandom)

    def seal(count: int, reuse: bool) -> SealedRequest:
        return seal_request(
            BODY,
            ROUTING,
            keys[:count],
            issued_at=int(time.time()),
            random_bytes=os.urandom,
            encapsulation_to=(lambda key: kept.to(key, time.monotonic())) if reuse else None,
        )

    def side_by_side(name: str, fresh: Callable[[], object], reused: Callable[[], object]) -> None:
        fresh_s, reused_s = paired(fresh, reused, args.n, args.rounds)
        rows.append((name, fresh_s * 1e6, reused_s * 1e6))

    rows: list[tuple[str, float, float]] = []
    for count in (1, 3):
        side_by_side(
            f"client seals to {count} key{'s' if count > 1 else ''}",
            partial(seal, count, False),
            partial(seal, count, True),
        )

    # The worker opens each request's envelope (checks, wrap, body): fresh envelopes (the replay cache
    # refuses one seen before), sealed beforehand. A fresh encapsulation is never in its cache.
    def opener(reuse: bool) -> Callable[[], object]:
        envelopes = iter([seal(1, reuse).envelope for _ in range(args.n * args.rounds)])
        replay = ReplayCache(keep_s=2 * ISSUE_WINDOW_S)
        return lambda: open_request(next(envelopes), ROUTING, rings[0], replay, time.time())

    side_by_side("worker opens the envelope", opener(False), opener(True))

    print(f"medians of {args.rounds} interleaved rounds of {args.n} calls; µs per call\n")
    print(f"| {'operation':28s} | fresh encapsulation | kept for a minute | fresh ÷ kept |")
    print("|---|---|---|---|")
    for name, fresh_us, reused_us in rows:
        print(f"| {name:28s} | {fresh_us:8.1f} | {reused_us:8.1f} | {fresh_us / reused_us:5.2f}× |")
    return rows


if __name__ == "__main__":
    main()
