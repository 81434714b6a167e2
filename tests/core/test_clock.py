"""The clock collaborator: the fake moves only when told to, the real one reads the machine."""

from __future__ import annotations

import time

import pytest

from cocoon.clock import CLOCK_OFFSET_ENV, SYSTEM_CLOCK, Clock, FakeClock, SystemClock, _offset_from_env
from cocoon.errors import ConfigError


def test_fake_clock_stands_still_until_advanced() -> None:
    clock = FakeClock(wall=100.0, monotonic=5.0)
    assert (clock.time(), clock.monotonic()) == (100.0, 5.0)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic()) == (102.5, 7.5)


def test_fake_clock_cannot_go_back() -> None:
    with pytest.raises(ValueError, match="cannot go back"):
        FakeClock().advance(-1)


def test_system_clock_reads_the_machine() -> None:
    clock: Clock = SYSTEM_CLOCK
    assert abs(clock.time() - time.time()) < 5
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_a_system_clock_that_is_off_shifts_only_the_wall_clock() -> None:
    clock = SystemClock(offset_s=300.0)
    assert abs(clock.time() - time.time() - 300.0) < 5
    assert abs(clock.monotonic() - time.monotonic()) < 5


def test_the_test_clock_offset_is_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CLOCK_OFFSET_ENV, raising=False)
    assert _offset_from_env() == 0.0
    monkeypatch.setenv(CLOCK_OFFSET_ENV, "-300")
    assert _offset_from_env() == -300.0
    monkeypatch.setenv(CLOCK_OFFSET_ENV, "five minutes")
    with pytest.raises(ConfigError, match="must be a number of seconds"):
        _offset_from_env()
