"""Many workers in one process, for scale benchmarks of one proxy (`bench_scale.py`).

Each is a real `WorkerService` with its own fake-attested identity, connecting to the proxy over its
own RA-TLS connection and speaking the real worker protocol; all share one engine client (to one
fake engine); each has its own owner (its own payment channel) unless ``--shared-owner``. Reads
target counts from stdin, one a line, and starts workers until that many run; prints ``up <n>`` once
every one of them has a live proxy connection. Raises its soft limit of open files to the hard limit
(one connection per worker, plus one engine connection per running stream).

    python benchmarks/scale_workers.py --proxy 127.0.0.1:11001 --engine http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import sys

import msgspec

from cocoon.engine.client import EngineClient
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.roles import WorkerConfig
from cocoon.worker.service import WorkerService

START_BATCH = 25
"""Workers started at once (each does an RA-TLS handshake with the proxy)."""


def raise_open_files() -> int:
    """Set the soft limit of open files to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run(proxy: str, engine_url: str, max_active: int, shared_owner: bool) -> None:
    config = WorkerConfig(
        proxies=[proxy], engine_url=engine_url, max_active=max_active, health_interval_s=3600.0
    )
    policy = make_policy("fake")
    workers: list[WorkerService] = []
    tasks: list[asyncio.Task[None]] = []
    reader = await _lines()
    async with EngineClient(engine_url, max_connections=20_000) as engine:
        try:
            while line := await reader.readline():
                target = int(line)
                while len(workers) < target:
                    for _ in range(min(START_BATCH, target - len(workers))):
                        own = config
                        if not shared_owner:  # its own payment channel, as independent GPU owners
                            owner = f"0:{len(workers) + 1:064x}"
                            own = msgspec.structs.replace(config, owner_address=owner)
                        worker = WorkerService(own, engine, make_identity("", "fake"), policy)
                        workers.append(worker)
                        tasks.append(asyncio.create_task(worker.run()))
                    while sum(1 for w in workers if w.connections) < len(workers):
                        dead = [t for t in tasks if t.done()]
                        if dead:
                            raise RuntimeError(f"a worker stopped: {dead[0].exception()!r}")
                        await asyncio.sleep(0.05)
                print(f"up {len(workers)}", flush=True)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", required=True, help="the proxy's worker address, host:port")
    parser.add_argument("--engine", required=True, help="the fake engine's URL")
    parser.add_argument("--max-active", type=int, default=1000, help="slots each worker offers")
    parser.add_argument("--shared-owner", action="store_true", help="all workers of one owner")
    args = parser.parse_args()
    raise_open_files()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.proxy, args.engine, args.max_active, args.shared_owner))


if __name__ == "__main__":
    main()
