"""The asyncio side of a node's chain request budget: counting, spacing and retrying requests.

:class:`RequestCounts` counts a node's chain requests by method (``/jsonstats``, the measured load per
role); :class:`RateGate` spaces requests by a shared :class:`~cocoon.ton.ratelimit.TokenBucket` and
sleeps the :func:`~cocoon.ton.ratelimit.backoff_delay` schedule after a "too many requests". The
arithmetic is pure (:mod:`cocoon.ton.ratelimit`); this module only sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.ton.ratelimit import TokenBucket, backoff_delay

MAX_ATTEMPTS = 6
"""Tries of one request refused as "too many requests" before the node gives up with a ChainError."""


class RequestCounts:
    """Chain requests made, by method (one per HTTP request / liteserver query, retries included)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.by_method: Counter[str] = Counter()
        self.rate_limited = 0
        """Answers that said "too many requests" (each was retried after a backoff)."""
        self.clock = clock
        self.since = clock.monotonic()

    def add(self, method: str) -> None:
        self.by_method[method] += 1

    @property
    def total(self) -> int:
        return sum(self.by_method.values())

    def stats(self) -> dict[str, Any]:
        """``/jsonstats``: totals by method and the average rate since the adapter opened."""
        minutes = max(self.clock.monotonic() - self.since, 1e-9) / 60
        return {
            "requests": self.total,
            "by_method": dict(sorted(self.by_method.items())),
            "per_minute": round(self.total / minutes, 1),
            "rate_limited": self.rate_limited,
        }


class Counted(Protocol):
    """A chain adapter that counts its requests (every adapter of :mod:`cocoon.chainsvc` does)."""

    requests: RequestCounts


def request_stats(chain: object) -> dict[str, Any] | None:
    """The request counts of ``chain`` for ``/jsonstats`` (None for an adapter without them)."""
    counts = getattr(chain, "requests", None)
    return counts.stats() if isinstance(counts, RequestCounts) else None


class RateGate:
    """Keeps a node's requests under ``rate_per_s`` (0: no limit) and paces retries after refusals."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rand: Callable[[], float] = random.random,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base_s: float = 1.0,
    ) -> None:
        self.bucket = TokenBucket(rate_per_s) if rate_per_s > 0 else None
        self.clock, self.rand = clock, rand
        self.max_attempts, self.backoff_base_s = max_attempts, backoff_base_s

    async def admit(self) -> None:
        """Wait for this request's turn in the bucket."""
        if self.bucket is not None:
            wait = self.bucket.reserve(self.clock.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)

    async def back_off(self, attempt: int) -> None:
        """Sleep before retry ``attempt`` (1, 2, ...) of a refused request."""
        await asyncio.sleep(backoff_delay(attempt, self.rand(), base_s=self.backoff_base_s))
