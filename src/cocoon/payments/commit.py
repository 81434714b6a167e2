"""The proxy's commit pipeline and rollback protection, as a pure state machine (spec/economics.md).

- Every ~1 s the proxy persists changed counters under a new local seqno (:meth:`CommitPipeline.next_seqno`).
- Every ~30-60 s it sends a 1-nanoTON ``save_state(seqno, session_hash)`` note from its wallet to its
  proxy contract (:meth:`CommitPipeline.note_due`); the note is persisted as *pending* before it is sent.
- When a note is seen on chain (:meth:`CommitPipeline.observe`), everything stamped at or before its seqno
  becomes chain-committed and may be signed.

Every start-up draws a fresh random ``session_hash`` and issues a start note at once; the proxy serves
only after it has seen that note (:attr:`CommitPipeline.ready`), i.e. after it has read every earlier
note on its contract. A note from its own wallet that the database never issued proves the database is
an older copy (or a clone runs with the same key): :class:`~cocoon.errors.StateRollbackError`.

Time is passed in (seconds, any monotonic origin); nothing here reads a clock or touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cocoon.errors import PaymentError, StateRollbackError

SESSION_HASH_BYTES = 32


@dataclass(frozen=True, slots=True)
class Note:
    """A save-state note to send (or seen on chain)."""

    seqno: int
    session_hash: bytes


@dataclass
class CommitPipeline:
    """Local seqnos, pending save-state notes and what the chain has confirmed.

    ``last_seqno`` and ``pending`` are what the database holds; construct the pipeline from them at
    start-up with a fresh ``session_hash`` and send :meth:`start` 's note.
    """

    session_hash: bytes
    last_seqno: int = 0
    pending: dict[int, bytes] = field(default_factory=dict)
    note_interval_s: float = 45.0
    stale_after_s: float = 120.0
    committed_seqno: int = 0
    start_seqno: int | None = None
    _in_flight: tuple[Note, float] | None = None
    _last_note_at: float | None = None
    _seen: set[tuple[int, bytes]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if len(self.session_hash) != SESSION_HASH_BYTES:
            raise PaymentError(f"session_hash must be {SESSION_HASH_BYTES} bytes")

    @property
    def ready(self) -> bool:
        """Whether the start note was seen on chain (every earlier note has been checked)."""
        return self.start_seqno is not None and self.committed_seqno >= self.start_seqno

    def next_seqno(self) -> int:
        """A new local seqno for one database flush."""
        self.last_seqno += 1
        return self.last_seqno

    def start(self, now: float) -> Note:
        """The start-up note: a fresh seqno under this session (persist it as pending, then send it)."""
        if self.start_seqno is not None:
            raise PaymentError("the commit pipeline was already started")
        self.start_seqno = self.next_seqno()
        return self._issue(now)

    def note_due(self, now: float, *, force: bool = False) -> Note | None:
        """The next note to send, if one is due: something new was flushed since the last confirmed
        seqno, no note is in flight (or it went stale), and the interval passed (or ``force``)."""
        if self.start_seqno is None or self.last_seqno <= self.committed_seqno:
            return None
        if self._in_flight is not None and now - self._in_flight[1] < self.stale_after_s:
            return None
        if not force and self._last_note_at is not None and now - self._last_note_at < self.note_interval_s:
            return None
        return self._issue(now)

    def _issue(self, now: float) -> Note:
        note = Note(self.last_seqno, self.session_hash)
        self.pending[note.seqno] = note.session_hash
        self._in_flight = (note, now)
        self._last_note_at = now
        return note

    @property
    def in_flight(self) -> Note | None:
        return None if self._in_flight is None else self._in_flight[0]

    def observe(self, note: Note) -> int | None:
        """A save-state note from this proxy's wallet seen on chain. Returns the seqno that is now
        chain-committed (``None`` for a repeat); raises :class:`StateRollbackError` for a note this
        database never issued."""
        key = (note.seqno, note.session_hash)
        if key in self._seen:
            return None
        if self.pending.get(note.seqno) != note.session_hash:
            raise StateRollbackError(
                f"the proxy contract shows save-state seqno {note.seqno} of session "
                f"{note.session_hash.hex()[:12]}, which this database never issued (its last seqno is "
                f"{self.last_seqno}): the proxy was started with an older copy of its database, or another "
                "instance runs with the same key. Refusing to serve: restore the latest database or stop "
                "the other instance"
            )
        del self.pending[note.seqno]
        self._seen.add(key)
        if self._in_flight is not None and self._in_flight[0] == note:
            self._in_flight = None
        self.committed_seqno = max(self.committed_seqno, note.seqno)
        return note.seqno
