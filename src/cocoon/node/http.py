"""The HTTP server every node runs (stats, health; the client's OpenAI API)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

from aiohttp import web

from cocoon.errors import ConfigError

Site = Callable[[web.AppRunner, str, int], web.BaseSite]
"""Makes the site a runner listens with on ``host:port`` (default: aiohttp's TCP site)."""


async def serve_http(
    app: web.Application,
    host: str,
    port: int,
    *,
    cancel_on_disconnect: bool = False,
    site: Site = web.TCPSite,
) -> web.AppRunner:
    """Start an aiohttp app; `cancel_on_disconnect` cancels a handler when its caller goes away.

    Request bodies are never decompressed (``auto_decompress=False``): the client's API refuses a
    ``Content-Encoding`` (415), and a refused body still drained by aiohttp must cost no inflating.
    """
    runner = web.AppRunner(
        app, handler_cancellation=cancel_on_disconnect, access_log=None, auto_decompress=False
    )
    await runner.setup()
    try:
        await site(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}; is another node running?"
        ) from exc
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the runner's first site listens on (the real one when the config asked for port 0)."""
    for address in runner.addresses:
        return int(address[1])
    raise ConfigError("the HTTP server listens nowhere")


async def serve_node_http(
    app: web.Application,
    host: str,
    port: int,
    stack: AsyncExitStack,
    *,
    cancel_on_disconnect: bool = False,
    site: Site = web.TCPSite,
) -> int:
    """:func:`serve_http`, stopped with ``stack``; returns the port it listens on."""
    runner = await serve_http(app, host, port, cancel_on_disconnect=cancel_on_disconnect, site=site)
    stack.push_async_callback(runner.cleanup)
    return bound_port(runner)
