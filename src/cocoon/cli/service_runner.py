"""Running a long-lived node process: logging, config loading, HTTP servers, clean stop on signals."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec
from aiohttp import web

from cocoon.config import load_config
from cocoon.errors import CocoonError, ConfigError

T = TypeVar("T", bound=msgspec.Struct)


def setup_logging(level: str, name: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def load_role_config(cls: type[T], path: Path | None, overrides: dict[str, Any]) -> T:
    return load_config(cls, path, overrides=overrides)


async def serve_http(
    app: web.Application, host: str, port: int, *, cancel_on_disconnect: bool = False
) -> web.AppRunner:
    """Start an aiohttp app; `cancel_on_disconnect` cancels a handler when its caller goes away."""
    runner = web.AppRunner(app, handler_cancellation=cancel_on_disconnect, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}; is another node running?"
        ) from exc
    return runner


def run_until_signal(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` until it ends or SIGINT/SIGTERM arrives; our errors become one line and exit 1."""

    async def wrapper() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await main
        except asyncio.CancelledError:
            logging.getLogger(__name__).info("stopped")

    try:
        asyncio.run(wrapper())
    except* CocoonError as group:
        for exc in group.exceptions:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)
