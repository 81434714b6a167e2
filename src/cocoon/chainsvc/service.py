"""Run the local chain server: open (or create) the chain in a data directory, bind, serve until cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from cocoon.chainsvc.local import LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ChainError

READY_PREFIX = "chain ready at "
"""First line ``cocoon chain serve`` prints on stdout once it accepts requests (then the base URL)."""
DB_NAME = "chain.db"


async def run_chain_service(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 13000,
    wall_clock: bool = True,
    start_time: int | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Serve the chain stored in ``data_dir`` until cancelled; ``on_ready`` gets the base URL.

    A new chain starts at ``start_time`` or ``clock.time()``; with ``wall_clock`` it then follows ``clock``.
    """
    now = start_time if start_time is not None else int(clock.time())
    chain = LocalChain(data_dir / DB_NAME, now=now)
    runner = web.AppRunner(create_app(chain, wall_clock=clock if wall_clock else None), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ChainError(f"cannot listen on {host}:{port}: {exc}; pick another --port") from exc
        bound_host, bound_port = runner.addresses[0][:2]
        on_ready(f"http://{bound_host}:{bound_port}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        chain.close()
