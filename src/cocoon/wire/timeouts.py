"""Deadlines shrink hop by hop (DESIGN.md, failure rules): client -> proxy -> worker -> engine.

Each hop gives the next one a share of its own time budget, so the inner hop times out first and the
outer one still has time to report the inner hop's clear error instead of its own generic timeout.
``RunQuery.timeout_ms`` carries the budget between nodes; 0 means no timeout (and stays 0).
Pure arithmetic on relative timeouts: no clock is read here.
"""

from __future__ import annotations

HOP_DEADLINE_SHARE = 0.95
"""The share of its own time budget a hop gives the next one."""


def inner_timeout_ms(timeout_ms: float) -> int:
    """The ``timeout_ms`` to send the next hop when ours is ``timeout_ms`` (0: none, stays 0)."""
    return int(timeout_ms * HOP_DEADLINE_SHARE)


def inner_timeout_s(timeout_ms: int) -> float | None:
    """The timeout in seconds for the call this hop makes last (the worker's engine call): the hop
    share of ``timeout_ms``, or None when the request has no timeout."""
    return timeout_ms / 1000 * HOP_DEADLINE_SHARE if timeout_ms else None
