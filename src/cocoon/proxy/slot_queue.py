"""The requests waiting for a free worker slot, per model, in arrival order (`SlotQueue`).

When every worker of a model is busy a request waits here. A freed slot wakes only as many waiting
requests as there are free slots, and only those that could take that worker (the same filters the
pool's `choose` applies: price ceiling, endpoint, workers already tried, for an end-to-end request the
workers it is sealed to), oldest first: one freed slot costs O(woken + skipped), not O(waiting).

A waiter's life: `join` (armed), woken by `wake_fitting` or `wake_all` (its ``wake`` callback runs
once), then its request chooses again: no slot after all (`settle`, then `rearm`: it keeps its place in
line), or it is done (`leave`: chosen, timed out, cancelled, failed; O(1)).

No free slot may be lost while a waiter that could use it sleeps. Per worker the queue counts the
wakes it still owes (waiters woken for that worker that have not chosen again yet) and wakes only
``free_slots - owed`` more; when a woken waiter settles without taking that worker's slot (it took
another's, found none, or left) the caller wakes for that worker again (`settle` returns its id).
A waiter is woken for one worker at a time (a woken one is passed over until it is re-armed), so two
workers freeing slots at once wake different waiters.

Pure: no clock, no I/O, no event loop; ``wake`` callbacks set whatever the caller waits on.
"""

from __future__ import annotations

from collections.abc import Callable

from cocoon.proxy.selection import WorkerCandidate

Fits = Callable[[WorkerCandidate], bool]
"""Whether a waiting request could be sent to this worker now (the filters the pool's `choose` applies)."""


class Waiter:
    """One request waiting for a slot of ``model``; ``woken``: woken and not settled since."""

    __slots__ = ("fits", "model", "wake", "woken", "woken_for")

    def __init__(self, model: str, fits: Fits, wake: Callable[[], None]) -> None:
        self.model = model
        self.fits = fits
        self.wake = wake
        self.woken = False
        self.woken_for: str | None = None
        """The worker whose free slot woke it (a wake owed), until it settles; None after `wake_all`."""


class SlotQueue:
    """Per model, the waiters in arrival order; per worker, the wakes owed (see the module doc)."""

    def __init__(self) -> None:
        # A dict keeps insertion order and removes in O(1): the line of each model.
        self._lines: dict[str, dict[Waiter, None]] = {}
        self._owed: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def has_waiters(self, model: str) -> bool:
        """Whether any request waits for ``model`` (O(1): checked on every slot change)."""
        return model in self._lines

    def waiting(self, model: str) -> list[Waiter]:
        """The waiters of ``model``, oldest first."""
        return list(self._lines.get(model, ()))

    def owed(self, worker_id: str) -> int:
        """Waiters woken for this worker's free slots that have not chosen again yet."""
        return self._owed.get(worker_id, 0)

    def join(self, model: str, fits: Fits, wake: Callable[[], None]) -> Waiter:
        """Queue a request at the back of ``model``'s line."""
        waiter = Waiter(model, fits, wake)
        self._lines.setdefault(model, {})[waiter] = None
        return waiter

    def wake_fitting(self, model: str, candidate: WorkerCandidate, free_slots: int) -> int:
        """Wake, oldest first, up to ``free_slots`` (less the wakes this worker still owes) sleeping
        waiters of ``model`` that ``candidate`` fits; how many were woken. Already woken and unfitting
        waiters are passed over (they keep their place)."""
        worker_id = candidate.worker_id
        want = free_slots - self._owed.get(worker_id, 0)
        line = self._lines.get(model)
        if want <= 0 or line is None:
            return 0
        woken: list[Waiter] = []
        for waiter in line:
            if waiter.woken or not waiter.fits(candidate):
                continue
            waiter.woken = True
            waiter.woken_for = worker_id
            woken.append(waiter)
            if len(woken) == want:
                break
        if woken:
            self._owed[worker_id] = self._owed.get(worker_id, 0) + len(woken)
        for waiter in woken:  # after the walk: a callback must not change the line under it
            waiter.wake()
        return len(woken)

    def wake_all(self, model: str | None = None) -> int:
        """Wake every sleeping waiter of ``model`` (of every model when None): a worker left, so they
        choose again and fail fast when nothing is left; how many were woken. No wake is owed for it."""
        lines = [self._lines.get(model, {})] if model is not None else list(self._lines.values())
        woken: list[Waiter] = []
        for line in lines:
            for waiter in line:
                if not waiter.woken:
                    waiter.woken = True
                    woken.append(waiter)
        for waiter in woken:
            waiter.wake()
        return len(woken)

    def settle(self, waiter: Waiter, took: str | None = None) -> str | None:
        """``waiter`` chose again after a wake (``took``: the worker it got; None: none): the wake it
        was owed is no longer owed. Returns the worker that woke it unless it is ``took``: the caller
        wakes for that worker's free slots again (the slot it freed may still be free). The waiter stays
        marked woken (passed over by that wake) until `rearm`. Idempotent."""
        woke = waiter.woken_for
        if woke is None:
            return None
        waiter.woken_for = None
        left = self._owed[woke] - 1
        if left:
            self._owed[woke] = left
        else:
            del self._owed[woke]
        return woke if woke != took else None

    def rearm(self, waiter: Waiter) -> None:
        """Put a waiter that found no slot back to sleep, in its place in line (after `settle`)."""
        waiter.woken = False

    def leave(self, waiter: Waiter, took: str | None = None) -> str | None:
        """Remove ``waiter`` (chosen, timed out, cancelled) in O(1); then `settle` it (what it returns)."""
        line = self._lines.get(waiter.model)
        if line is not None and waiter in line:
            del line[waiter]
            if not line:  # an empty line is dropped: `has_waiters` is a key lookup
                del self._lines[waiter.model]
        waiter.woken = True  # out of line: never woken again
        return self.settle(waiter, took)
