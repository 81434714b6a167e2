"""Time as a collaborator: services read the clock through a :class:`Clock` passed in, never ``time.*``.

Two readings, never mixed:

- :meth:`Clock.monotonic`: seconds on a clock that never steps back, for durations and timeouts
  (``started = clock.monotonic()`` ... ``clock.monotonic() - started``);
- :meth:`Clock.time`: wall-clock seconds since the Unix epoch, for what other machines read
  (certificate validity, ``created`` fields, ledger timestamps, dates shown to people; an uptime is a
  duration, so it is monotonic).

:data:`SYSTEM_CLOCK` is the real one; :class:`FakeClock` is the test double: it stands still until a
test moves it with :meth:`FakeClock.advance`, so time-dependent behaviour is tested without sleeping.
This module is the only place of the services that reads the system clock.
"""

from __future__ import annotations

import os as _os
import time as _time
from typing import Protocol

from cocoon.errors import ConfigError


class Clock(Protocol):
    """Where a service reads the time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back (for durations and deadlines)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the Unix epoch (for timestamps other machines read)."""
        ...


class SystemClock:
    """The machine's clocks; ``offset_s`` shifts the wall clock (a machine whose clock is off)."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self.offset_s = offset_s

    def monotonic(self) -> float:
        return _time.monotonic()

    def time(self) -> float:
        return _time.time() + self.offset_s


CLOCK_OFFSET_ENV = "COCOON_TEST_CLOCK_OFFSET_S"
"""Tests only: seconds added to this process's wall clock, to run a node whose clock is off (the
multi-host fault tests). Unset on every real node."""


def _offset_from_env() -> float:
    raw = _os.environ.get(CLOCK_OFFSET_ENV, "")
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        raise ConfigError(
            f"{CLOCK_OFFSET_ENV} must be a number of seconds (tests only), not {raw!r}"
        ) from None


SYSTEM_CLOCK: Clock = SystemClock(_offset_from_env())
"""The real clock: the default of every service that takes a ``clock``."""


class FakeClock:
    """A clock that moves only when told to: both readings advance together by :meth:`advance`."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 1_000.0) -> None:
        self._wall = wall
        self._monotonic = monotonic

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both readings forward by ``seconds`` (never backwards: a monotonic clock cannot)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        self._wall += seconds
        self._monotonic += seconds
