"""Indexes over the connected workers, kept up to date on every change, so routing a request never
scans every worker (`WorkerIndex`).

Choosing a worker used to rebuild a candidate for each connected worker on every request: its cost
grew with the number of workers. The index keeps, per model, the workers that offer it and, among
them, those that can take a request now (enabled, a free slot) in a `ReadySet` a uniform sample is
drawn from in O(1); and per end-to-end key id the workers holding it. The pool (`WorkerPool`) updates
it whenever a worker connects, leaves, sends a new offer, takes or frees a slot, or publishes a key.

Pure: no clock, no I/O; randomness is the caller's `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


class ReadySet:
    """A set of worker ids with O(1) add, remove and uniform random draw (a list plus positions)."""

    __slots__ = ("_items", "_where")

    def __init__(self) -> None:
        self._items: list[str] = []
        self._where: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, worker_id: object) -> bool:
        return worker_id in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def add(self, worker_id: str) -> None:
        if worker_id not in self._where:
            self._where[worker_id] = len(self._items)
            self._items.append(worker_id)

    def discard(self, worker_id: str) -> None:
        at = self._where.pop(worker_id, None)
        if at is None:
            return
        last = self._items.pop()
        if last != worker_id:  # move the last one into the hole
            self._items[at] = last
            self._where[last] = at

    def draw(self, rng: random.Random) -> str:
        """One member, uniformly (the set must not be empty)."""
        return self._items[rng.randrange(len(self._items))]


SCAN_BELOW = 8
"""Sets this small are scanned rather than sampled (as cheap, and exact without retries)."""
DRAWS_PER_PICK = 12
"""Random draws tried per member wanted before `sample_some` gives up and the caller scans (many
refused candidates)."""


def sample_some(
    ready: ReadySet, rng: random.Random, accept: Callable[[str], bool], count: int
) -> list[str] | None:
    """``count`` distinct members ``accept`` takes, in a uniformly random order (as `random.sample` of
    the accepted members would give); fewer when fewer are accepted (small sets only); None when the
    draws ran out before ``count`` were found: the caller then scans every member.

    Drawing with rejection keeps the sample uniform over the accepted members (each draw is uniform
    over the set, so conditioned on being accepted and new it is uniform over the rest), and which
    samples are found before the draws run out does not depend on which members they are."""
    if len(ready) < SCAN_BELOW:
        accepted = [w for w in ready if accept(w)]
        return rng.sample(accepted, min(count, len(accepted)))
    found: list[str] = []
    for _ in range(DRAWS_PER_PICK * count):
        worker_id = ready.draw(rng)
        if worker_id in found or not accept(worker_id):
            continue
        found.append(worker_id)
        if len(found) == count:
            return found
    return None


@dataclass(frozen=True, slots=True)
class _Entry:
    model: str
    ready: bool
    key_ids: tuple[bytes, ...]


@dataclass
class WorkerIndex:
    """Per model: the workers offering it (`members`) and those ready for a request (`ready`); per
    end-to-end key id: the workers holding it (`key_holders`). Updated by `put` and `drop`."""

    members: dict[str, dict[str, None]] = field(default_factory=dict)
    """Per model, the ids of the workers offering it (insertion ordered, as they registered)."""
    ready: dict[str, ReadySet] = field(default_factory=dict)
    key_holders: dict[bytes, set[str]] = field(default_factory=dict)
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def put(self, worker_id: str, model: str, ready: bool, key_ids: tuple[bytes, ...]) -> None:
        """Record (or update) one registered worker: the model it offers, whether it can take a
        request now, the end-to-end key ids it holds."""
        entry = _Entry(model, ready, key_ids)
        old = self._entries.get(worker_id)
        if old == entry:
            return
        if old is not None and old.model != model:
            self.drop(worker_id)
            old = None
        self._entries[worker_id] = entry
        self.members.setdefault(model, {})[worker_id] = None
        ready_set = self.ready.get(model)
        if ready_set is None:
            ready_set = self.ready[model] = ReadySet()
        if ready:
            ready_set.add(worker_id)
        else:
            ready_set.discard(worker_id)
        if old is None or old.key_ids != key_ids:
            self._unkey(worker_id, old.key_ids if old is not None else ())
            for key in key_ids:
                self.key_holders.setdefault(key, set()).add(worker_id)

    def drop(self, worker_id: str) -> None:
        """Forget a worker (it left, or it no longer has an offer)."""
        old = self._entries.pop(worker_id, None)
        if old is None:
            return
        members = self.members.get(old.model)
        if members is not None:
            members.pop(worker_id, None)
            if not members:
                del self.members[old.model]
        ready_set = self.ready.get(old.model)
        if ready_set is not None:
            ready_set.discard(worker_id)
            if not ready_set and old.model not in self.members:
                del self.ready[old.model]
        self._unkey(worker_id, old.key_ids)

    def _unkey(self, worker_id: str, key_ids: tuple[bytes, ...]) -> None:
        for key in key_ids:
            holders = self.key_holders.get(key)
            if holders is not None:
                holders.discard(worker_id)
                if not holders:
                    del self.key_holders[key]

    def holding(self, key_ids: frozenset[bytes]) -> set[str]:
        """The workers holding any of these end-to-end key ids."""
        found: set[str] = set()
        for key in key_ids:
            found |= self.key_holders.get(key, set())
        return found
