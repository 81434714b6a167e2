"""Running a long-lived node process: logging, config loading, a built node, clean stop on signals."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from cocoon.clock import CLOCK_OFFSET_ENV, SYSTEM_CLOCK
from cocoon.config import load_config
from cocoon.errors import CocoonError
from cocoon.node.running import RunningNode

T = TypeVar("T", bound=msgspec.Struct)


def setup_logging(level: str, name: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    offset = getattr(SYSTEM_CLOCK, "offset_s", 0.0)
    if offset:  # a test's skewed node: never silent, a real node must not run like this
        logging.getLogger(__name__).warning(
            "TEST CLOCK: this process's wall clock is shifted by %+.0f s (%s)", offset, CLOCK_OFFSET_ENV
        )


def load_role_config(cls: type[T], path: Path | None, overrides: dict[str, Any]) -> T:
    return load_config(cls, path, overrides=overrides)


async def run_node(built: AbstractAsyncContextManager[RunningNode[Any]]) -> None:
    """Enter a role's builder and run the node it yields until cancelled; then close what it opened.

    Once built (imports done, configuration and stores open), its heap is settled (`settle_heap`)."""
    async with built as node:
        settle_heap()
        await node.run()


LOOP_ENV = "COCOON_LOOP"
"""Set to ``asyncio`` to run a node on the standard event loop instead of uvloop (to compare them)."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop a node runs on: uvloop (its I/O and callbacks cost a fraction of asyncio's)."""
    if os.environ.get(LOOP_ENV, "").lower() == "asyncio":
        return asyncio.new_event_loop
    import uvloop  # a pinned dependency; imported here so tools that never run a node do not load it

    return uvloop.new_event_loop


def run_until_signal(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` until it ends or SIGINT/SIGTERM arrives; our errors become one line and exit 1.

    The loop is uvloop unless ``COCOON_LOOP=asyncio`` is set (see `loop_factory`).
    """

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
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(wrapper())
    except* CocoonError as group:
        for exc in group.exceptions:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)


GC_YOUNG_THRESHOLD = 10_000
"""Allocations (less deallocations) between two collections of the youngest generation (Python's
default: 700). A request path frees nearly all it allocates by reference counting; at 700, a busy
daemon ran a collection every few requests, each walking every young object, for cycles it rarely has."""


def settle_heap() -> None:
    """Make the cyclic garbage collector cheap for a long-lived node (call once, after the imports).

    What exists now (modules, classes, configuration: tens of thousands of objects that live as long
    as the process) is frozen, so a full collection no longer walks it; and the youngest generation is
    collected every `GC_YOUNG_THRESHOLD` allocations instead of 700. Together they took a few percent
    of a busy node's CPU (`run_node` calls it for every node). Cycles are still collected, only less often.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
