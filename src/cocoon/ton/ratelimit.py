"""Request-rate arithmetic for public TON APIs, pure: a token bucket, a backoff schedule, a 429 test.

A key-less toncenter answers about 1 request/s, one with an API key about 10/s; above that it answers
HTTP 429 or a JSON error whose text says so. The asyncio side (:mod:`cocoon.chainsvc.limiter`) asks
:class:`TokenBucket` how long to wait before each request and :func:`backoff_delay` how long to wait
after a refusal; both take the time and the randomness as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TokenBucket:
    """``rate`` requests per second on average, bursts of up to ``burst``; shared by all of a node's calls.

    :meth:`reserve` books the next request and returns how many seconds the caller waits before
    sending it; bookings made at the same instant queue one behind the other (the bucket goes negative),
    so concurrent callers are spaced ``1 / rate`` apart and never all fire at once after a wait.
    """

    rate: float
    burst: float = 1.0
    tokens: float = -1.0
    """Tokens now (negative: requests booked ahead); starts full."""
    updated: float | None = None

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"a token bucket needs a rate above 0 per second, not {self.rate}")
        if self.burst < 1:
            raise ValueError(f"a token bucket holds at least one token, not {self.burst}")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def reserve(self, now: float) -> float:
        """Book one request at ``now`` (monotonic seconds); the seconds to wait before sending it."""
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


def backoff_delay(attempt: int, rand: float, *, base_s: float = 1.0, cap_s: float = 30.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): ``base * 2**(attempt-1)`` capped at
    ``cap_s``, with "full jitter" (``rand`` in [0, 1) scales it between half and all of it), so that
    nodes refused together do not come back together."""
    if attempt < 1:
        raise ValueError(f"retry attempts count from 1, not {attempt}")
    ceiling: float = min(cap_s, base_s * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + 0.5 * rand)


def is_rate_limited(status: int, answer: Any) -> bool:
    """Whether a toncenter answer says "too many requests": HTTP 429, or toncenter's error body
    (``{"ok": false, "code": 429, "error": "Ratelimit exceed"}``, sometimes with HTTP 200/500)."""
    if status == 429:
        return True
    if not isinstance(answer, dict) or answer.get("ok") is not False:
        return False
    if answer.get("code") == 429:
        return True
    error = str(answer.get("error", "")).lower()
    return "ratelimit" in error or "rate limit" in error or "too many requests" in error
