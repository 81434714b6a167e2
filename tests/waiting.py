"""Waiting in tests without sleeping for a guessed time: poll a condition under a deadline.

Prefer an event the code sets (an `asyncio.Event`, a future, a printed line); where none exists, a
test waits for the state it needs with `wait_until` (async tests) or `wait_until_sync` (tests that
drive real processes), which return as soon as the condition holds and fail loudly when it never does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_S = 0.005
"""How often the condition is checked: short, so a test waits little more than it must."""


async def wait_until(condition: Callable[[], object], timeout_s: float = 10.0, *, what: str = "") -> None:
    """Return once ``condition()`` is true; raise `TimeoutError` after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not true within {timeout_s} s: {what or _name(condition)}")
        await asyncio.sleep(POLL_S)


def wait_until_sync(
    condition: Callable[[], object], timeout_s: float = 30.0, *, what: str = "", poll_s: float = 0.05
) -> None:
    """`wait_until` for synchronous tests (e.g. waiting for a real process to reach a state)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not true within {timeout_s} s: {what or _name(condition)}")
        time.sleep(poll_s)


def _name(condition: Callable[[], object]) -> str:
    return getattr(condition, "__qualname__", repr(condition))
