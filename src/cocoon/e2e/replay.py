"""The worker's cache of envelopes already opened: an envelope is served once (spec/e2e.md).

An envelope is known by ``(key id, nonce)``. Entries are kept for twice the ``issued_at`` window:
an older envelope is refused as stale before this cache is asked, so nothing older needs keeping.
Time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict


class ReplayCache:
    """``(key_id, nonce)`` pairs seen in the last ``keep_s`` seconds, bounded to ``capacity`` entries."""

    def __init__(self, keep_s: float, capacity: int = 1_000_000) -> None:
        self.keep_s = keep_s
        self.capacity = capacity
        self._seen: OrderedDict[tuple[bytes, bytes], float] = OrderedDict()

    def first_time(self, key_id: bytes, nonce: bytes, now: float) -> bool:
        """Record the pair; False if it was seen within the window (a replay)."""
        self._expire(now)
        entry = (key_id, nonce)
        if entry in self._seen:
            return False
        self._seen[entry] = now
        while len(self._seen) > self.capacity:
            # Over capacity the oldest go first; a replay of one of them is still refused as stale
            # once it is older than the window, and a window's worth fits any sane capacity.
            self._seen.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        while self._seen:
            seen_at = next(iter(self._seen.values()))
            if now - seen_at <= self.keep_s:
                return
            self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)
