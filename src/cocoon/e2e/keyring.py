"""A worker's HPKE keys: the current one and the one before it (spec/e2e.md, "Worker keys").

A new pair is made at every certificate issue and published in the statement signed into it; the
previous pair stays usable for one more period, so a client that verified the worker's last
certificate a moment before the re-issue still gets its request opened.
"""

from __future__ import annotations

from collections.abc import Callable

from cocoon.e2e.kem_reuse import DecapsulationCache
from cocoon.e2e.suite import HpkeKeyPair


class Keyring:
    """Current and previous HPKE key pairs of one worker, looked up by key id."""

    def __init__(self, random_bytes: Callable[[int], bytes]) -> None:
        self._random_bytes = random_bytes
        self.current: HpkeKeyPair | None = None
        self.previous: HpkeKeyPair | None = None
        self.decapsulations = DecapsulationCache()
        """What opening a wrap to one of these keys takes, remembered per ``enc``."""

    def rotate(self, not_after: int) -> HpkeKeyPair:
        """Make a new current pair valid until ``not_after``; the old current becomes the previous."""
        self.previous = self.current
        self.current = HpkeKeyPair.generate(self._random_bytes, not_after)
        self.decapsulations.keep_only(self.key_ids())
        return self.current

    def find(self, key_id: bytes) -> HpkeKeyPair | None:
        """The pair with ``key_id`` (current or previous), or None."""
        for pair in (self.current, self.previous):
            if pair is not None and pair.key_id == key_id:
                return pair
        return None

    def key_ids(self) -> tuple[bytes, ...]:
        """The ids this worker can open now, current first."""
        return tuple(pair.key_id for pair in (self.current, self.previous) if pair is not None)
