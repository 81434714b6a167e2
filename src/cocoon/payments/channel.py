"""One payment channel's three counters (spec/economics.md, "Signed payments").

Per client and per worker the proxy keeps cumulative adjusted-token totals:

``tokens_max`` (running total, in memory) >= ``committed_to_db`` (the value stamped at the latest local
seqno the proxy wrote to its database) >= ``committed_to_chain`` (the value at the latest seqno whose
save-state note the proxy has seen on chain). Only the chain-committed amount is ever signed.

:class:`Channel` is the proxy's side; :func:`check_progress` is the counterpart's side: none of the
three numbers may ever go down, because a decrease proves the proxy lost or rolled back state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cocoon.errors import PaymentError, StateRollbackError
from cocoon.payments.params import NO_TOKENS, Tokens


@dataclass(frozen=True, slots=True)
class Counters:
    """The three cumulative token totals of one channel; ordered and never negative."""

    tokens_max: Tokens = NO_TOKENS
    committed_to_db: Tokens = NO_TOKENS
    committed_to_chain: Tokens = NO_TOKENS

    def __post_init__(self) -> None:
        if not self.tokens_max >= self.committed_to_db >= self.committed_to_chain >= 0:
            raise PaymentError(
                "channel counters must satisfy tokens_max >= committed_to_db >= committed_to_chain >= 0, "
                f"got {self.tokens_max} >= {self.committed_to_db} >= {self.committed_to_chain}"
            )


ZERO = Counters()

_NAMES = ("tokens_max", "committed_to_db", "committed_to_chain")


def check_progress(previous: Counters | None, current: Counters, *, who: str = "the proxy") -> None:
    """Counterpart's check of a payment update: raise :class:`StateRollbackError` if any counter of
    ``current`` is lower than in ``previous`` (``None``: the first update, always accepted)."""
    if previous is None:
        return
    for name in _NAMES:
        before, now = getattr(previous, name), getattr(current, name)
        if now < before:
            raise StateRollbackError(
                f"{who} reported {name} = {now} tokens after {before}: it lost or rolled back its payment "
                "state; stop using it and keep the last signed payment to cash out"
            )


@dataclass
class Channel:
    """The proxy's counters for one counterpart, and the values it stamped at each local seqno.

    Use: :meth:`add` per settled request; at each database flush ``value = channel.tokens_max`` is
    written under a new seqno, then :meth:`stamp` records it; when the save-state note of a seqno is
    seen on chain, :meth:`commit_chain` makes the value stamped at (or before) it chain-committed.
    """

    tokens_max: Tokens = NO_TOKENS
    committed_to_db: Tokens = NO_TOKENS
    committed_to_chain: Tokens = NO_TOKENS
    _stamps: list[tuple[int, Tokens]] = field(default_factory=list)  # (seqno, value), seqno increasing

    @classmethod
    def restored(cls, value: Tokens) -> Channel:
        """A channel loaded from the database: every counter equals the stored value. The proxy issues a
        fresh seqno at start-up whose note, once seen on chain, confirms that value."""
        return cls(value, value, value)

    @property
    def counters(self) -> Counters:
        return Counters(self.tokens_max, self.committed_to_db, self.committed_to_chain)

    @property
    def dirty(self) -> bool:
        """Whether the running total moved since the last stamp (a flush has something to write)."""
        return self.tokens_max != self.committed_to_db

    def add(self, tokens: Tokens) -> Counters:
        """Count ``tokens`` more adjusted tokens (one settled request)."""
        if tokens < 0:
            raise PaymentError(f"a channel only grows; got {tokens} tokens")
        self.tokens_max = Tokens(self.tokens_max + tokens)
        return self.counters

    def stamp(self, seqno: int, value: Tokens) -> None:
        """``value`` was persisted under local ``seqno`` (seqnos strictly increase, values never drop)."""
        if self._stamps and seqno <= self._stamps[-1][0]:
            raise PaymentError(f"stamp seqno {seqno} does not follow {self._stamps[-1][0]}")
        if not self.committed_to_db <= value <= self.tokens_max:
            raise PaymentError(
                f"stamped value {value} is outside committed_to_db {self.committed_to_db} .. "
                f"tokens_max {self.tokens_max}"
            )
        self._stamps.append((seqno, value))
        self.committed_to_db = value

    def commit_chain(self, seqno: int) -> bool:
        """The note of ``seqno`` is on chain: every stamp at or before it is chain-committed.
        Returns whether ``committed_to_chain`` moved."""
        covered = [value for s, value in self._stamps if s <= seqno]
        if not covered:
            return False
        self._stamps = [(s, v) for s, v in self._stamps if s > seqno]
        moved = covered[-1] > self.committed_to_chain
        self.committed_to_chain = max(self.committed_to_chain, covered[-1])
        return moved
