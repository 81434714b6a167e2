"""The clock collaborator: the fake moves only when told to, the real one reads the machine."""

from __future__ import annotations

import time

import pytest

from cocoon.clock import SYSTEM_CLOCK, Clock, FakeClock


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
