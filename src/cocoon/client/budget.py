"""Usage and spend per API key, and the daily spend limit (pure: the caller passes the wall time).

A day is a UTC day. A request's spend is known only at its end (the proxy's ``AnswerEnd`` cost, the
``usage.total_cost`` the caller sees), and nothing is reserved here: a request is admitted while its
key has spent less than its limit today, so one that starts under the limit may finish over it.
The counters live in memory: a restarted daemon starts the day's spend from zero.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from cocoon.client.keys import ApiKey
from cocoon.payments.params import format_ton
from cocoon.wire.messages import AnswerEnd

DAY_S = 86_400


def utc_day(wall: float) -> int:
    """The UTC day number (days since 1970-01-01) of a wall-clock reading."""
    return int(wall // DAY_S)


def next_reset(wall: float) -> float:
    """The wall-clock time of the next UTC midnight after ``wall``."""
    return float((utc_day(wall) + 1) * DAY_S)


@dataclass
class KeyUsage:
    """What one key did since the daemon started, and what it spent on the UTC day ``day``."""

    requests: int = 0
    succeeded: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spent_nano: int = 0
    day: int = -1
    day_spent_nano: int = 0

    def spent_on(self, day: int) -> int:
        return self.day_spent_nano if day == self.day else 0

    def finished(self, end: AnswerEnd, day: int) -> None:
        self.succeeded += 1
        self.prompt_tokens += end.usage.prompt_tokens
        self.completion_tokens += end.usage.completion_tokens
        self.spent_nano += end.cost
        self.day_spent_nano = self.spent_on(day) + end.cost
        self.day = day


@dataclass(frozen=True, slots=True)
class QuotaExceeded:
    """A key over its daily limit: what it spent, its limit and when the limit resets."""

    name: str
    spent_nano: int
    limit_nano: int
    resets_at: float
    now: float

    @property
    def retry_after_s(self) -> int:
        return max(1, int(self.resets_at - self.now + 0.999))

    def message(self) -> str:
        left = self.retry_after_s
        when = datetime.datetime.fromtimestamp(self.resets_at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"API key {self.name!r} has spent {format_ton(self.spent_nano)} TON today, its daily limit is "
            f"{format_ton(self.limit_nano)} TON. The limit resets at {when} "
            f"(in {left // 3600} h {left % 3600 // 60} min); until then use another key."
        )


@dataclass
class SpendLedger:
    """Usage per key name."""

    usage: dict[str, KeyUsage] = field(default_factory=dict)

    def _of(self, name: str) -> KeyUsage:
        return self.usage.setdefault(name, KeyUsage())

    def quota_exceeded(self, key: ApiKey, now: float) -> QuotaExceeded | None:
        """Why ``key`` may not start a request at ``now``, or None when it may."""
        if key.daily_limit_nano is None:
            return None
        spent = self._of(key.name).spent_on(utc_day(now))
        if spent < key.daily_limit_nano:
            return None
        return QuotaExceeded(key.name, spent, key.daily_limit_nano, next_reset(now), now)

    def admitted(self, name: str) -> None:
        self._of(name).requests += 1

    def finished(self, name: str, end: AnswerEnd, now: float) -> None:
        self._of(name).finished(end, utc_day(now))

    def snapshot(self, keys: tuple[ApiKey, ...], now: float) -> dict[str, Any]:
        """Per key of ``keys`` (and any other key that was used): counters, today's spend, limit."""
        known = {k.name: k for k in keys}
        today = utc_day(now)
        out: dict[str, Any] = {}
        for name in [*known, *(n for n in self.usage if n not in known)]:
            use = self.usage.get(name, KeyUsage())
            key = known.get(name)
            out[name] = {
                "requests": use.requests,
                "succeeded": use.succeeded,
                "prompt_tokens": use.prompt_tokens,
                "completion_tokens": use.completion_tokens,
                "spent_nano": use.spent_nano,
                "spent_today_nano": use.spent_on(today),
                "daily_limit_nano": key.daily_limit_nano if key else None,
                "revoked": key.revoked if key else True,
            }
        return out


def prometheus_lines(snapshot: dict[str, Any]) -> list[str]:
    """The per-key series of /metrics for a `SpendLedger.snapshot` (key names need no escaping)."""
    series = [
        ("cocoon_client_key_requests_total", "counter", "requests"),
        ("cocoon_client_key_succeeded_total", "counter", "succeeded"),
        ("cocoon_client_key_spent_nanoton_total", "counter", "spent_nano"),
        ("cocoon_client_key_spent_today_nanoton", "gauge", "spent_today_nano"),
    ]
    lines = []
    for metric, kind, field_name in series:
        lines.append(f"# TYPE {metric} {kind}")
        lines += [f'{metric}{{key="{name}"}} {use[field_name]}' for name, use in snapshot.items()]
    lines.append("# TYPE cocoon_client_key_daily_limit_nanoton gauge")
    lines += [
        f'cocoon_client_key_daily_limit_nanoton{{key="{name}"}} {use["daily_limit_nano"]}'
        for name, use in snapshot.items()
        if use["daily_limit_nano"] is not None
    ]
    return lines
