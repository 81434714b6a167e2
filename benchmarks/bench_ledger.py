"""What the proxy's ledger costs per request, by how request keys are ordered and by page size.

    .venv/bin/python benchmarks/bench_ledger.py [--rows 200000] [--requests 6000] [--batch 12]

Each request is one `Ledger.record` in the open batch (client, worker and both payment channels
counted, as on a chain), committed every ``--batch`` requests as group commit does under load. Keys
come either as the proxy makes them (`cocoon.proxy.routing.request_key`: ordered by a sequence within a
client) or as it made them before (ordered by the client's random request id), into an empty ledger
and into one that already holds ``--rows`` rows. A second table puts the ledger's page size
(`cocoon.proxy.ledger.PAGE_SIZE`) next to SQLite's default 4096 into the filled ledger, each request
committed alone (one request at a time, as at concurrency 1) and in batches of ``--batch``. Prints µs
and write system calls per request (from /proc/self/io), and the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cocoon.proxy.ledger import PAGE_SIZE, Ledger, RequestCharge
from cocoon.proxy.routing import request_key

CLIENT = "c" * 64
"""A client id as long as an address's hex."""


def _random_id() -> int:
    return int.from_bytes(os.urandom(8), "big") >> 1


def ordered(sequence: int) -> str:
    return request_key(CLIENT, sequence, _random_id())


def by_request_id(sequence: int) -> str:
    """The key before: the client's random request id ahead of the sequence."""
    return f"{CLIENT}:{_random_id()}:{sequence}"


def _writes() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("syscw:"))


def _record(ledger: Ledger, key: str) -> None:
    charge = RequestCharge(key, "client", "worker", "EQworker", 100, 1000, 900, "EQclient", "contract")
    ledger.record(charge, 1.0, defer=True)


SQLITE_DEFAULT_PAGE_SIZE = 4096


def measure(
    key_of: Callable[[int], str], rows: int, requests: int, batch: int, page_size: int = PAGE_SIZE
) -> tuple[float, float]:
    """(µs, write system calls) per request of ``requests`` recorded after ``rows`` already were."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.db", page_size=page_size)
        sequence = 0
        for index in range(rows):
            sequence += 1
            _record(ledger, key_of(sequence))
            if index % 1000 == 999:
                ledger.commit()
        ledger.make_durable()
        writes, start = _writes(), time.perf_counter()
        for index in range(requests):
            sequence += 1
            _record(ledger, key_of(sequence))
            if index % batch == batch - 1:
                ledger.commit()
        ledger.commit()
        elapsed, written = time.perf_counter() - start, _writes() - writes
        ledger.close()
    return elapsed / requests * 1e6, written / requests


def _row(label: str, ours: tuple[float, float], other: tuple[float, float]) -> str:
    """One table row: (µs, writes) of ``ours`` and ``other``, and how much longer ``other`` takes."""
    return (
        f"| {label} | {ours[0]:.1f} µs, {ours[1]:.2f} writes | {other[0]:.1f} µs, {other[1]:.2f} writes"
        f" | {other[0] / ours[0]:.2f}× |"
    )


def main(
    argv: list[str] | None = None,
) -> tuple[list[tuple[int, float, float, float, float]], list[tuple[int, float, float, float, float]]]:
    """Measure and print; returns (rows before, µs ordered, µs by request id, writes ordered, writes by
    request id) per table size, and (requests per commit, µs at `PAGE_SIZE`, µs at 4096, writes at
    `PAGE_SIZE`, writes at 4096) per batch size."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows already in the larger ledger")
    parser.add_argument("--requests", type=int, default=6000, help="requests measured per run")
    parser.add_argument("--batch", type=int, default=12, help="requests per commit")
    args = parser.parse_args(argv)
    results = []
    print(f"{args.requests} requests, a commit every {args.batch}; µs and write calls per request\n")
    print("| rows before | ordered by sequence | ordered by request id | ratio |")
    print("|---|---|---|---|")
    for rows in (0, args.rows):
        new = measure(ordered, rows, args.requests, args.batch)
        old = measure(by_request_id, rows, args.requests, args.batch)
        results.append((rows, new[0], old[0], new[1], old[1]))
        print(_row(f"{rows:,}", new, old))
    print(f"\nInto the ledger of {args.rows:,} rows, keys ordered by sequence, by page size:\n")
    print(f"| requests per commit | {PAGE_SIZE}-byte pages | {SQLITE_DEFAULT_PAGE_SIZE}-byte pages | ratio |")
    print("|---|---|---|---|")
    pages = []
    for batch in sorted({1, args.batch}):
        # The filled ledger in batches of --batch at PAGE_SIZE was measured for the table above.
        ours = (
            (results[1][1], results[1][3])
            if batch == args.batch
            else measure(ordered, args.rows, args.requests, batch)
        )
        default = measure(ordered, args.rows, args.requests, batch, page_size=SQLITE_DEFAULT_PAGE_SIZE)
        pages.append((batch, ours[0], default[0], ours[1], default[1]))
        print(_row(str(batch), ours, default))
    return results, pages


if __name__ == "__main__":
    main()
