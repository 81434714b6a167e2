"""The proxy's persisted commit state, in the ledger's SQLite file (spec/economics.md, "Commit pipeline").

Tables (schema in :mod:`cocoon.proxy.ledger`): ``channels`` (per counterpart: running total, value and
seqno of the last stamp), ``commit_state`` (``last_seqno``, ``cursor_lt``: how far the proxy contract's
transaction list was read; ``close_requested``: the operator asked to close the contract) and
``pending_notes`` (save-state notes issued but not yet seen on chain).

What must change together is written in one transaction: a flush stamps every changed channel under
one new seqno; issuing a note records it as pending *before* it is sent; reading the chain advances the
cursor and drops the notes it saw at once (a restart replays from the cursor and must not meet a note
it already forgot).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cocoon.payments.commit import CommitPipeline, Note
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.settlement.channels import ChannelKey


class CommitStore:
    """Reads and writes the commit state through a :class:`Ledger`'s connection."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._db = ledger.connection

    def _get(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM commit_state WHERE key = ?", (key,)).fetchone()
        return 0 if row is None else int(row[0])

    def _set(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO commit_state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def last_seqno(self) -> int:
        return self._get("last_seqno")

    @property
    def cursor_lt(self) -> int:
        return self._get("cursor_lt")

    @property
    def close_requested(self) -> bool:
        """Whether the operator asked to close the proxy contract (see :mod:`.closer`)."""
        return self._get("close_requested") != 0

    def request_close(self) -> None:
        """Persist the operator's close request before anything is sent: a restart resumes the close."""
        with self.ledger.transaction():
            self._set("close_requested", 1)

    def pipeline(self, session_hash: bytes, note_interval_s: float) -> CommitPipeline:
        """The commit pipeline of a new session, resuming the persisted seqno and pending notes."""
        return CommitPipeline(
            session_hash, last_seqno=self.last_seqno, pending=self.pending(), note_interval_s=note_interval_s
        )

    def channels(self) -> dict[ChannelKey, int]:
        """Every channel's running total (``tokens_max``, durable per request)."""
        rows = self._db.execute("SELECT kind, owner, running_tokens FROM channels")
        return {(kind, owner): tokens for kind, owner, tokens in rows}

    def stamped(self) -> dict[ChannelKey, tuple[int, int]]:
        """Every channel's last stamp: (seqno, tokens)."""
        rows = self._db.execute("SELECT kind, owner, stamped_seqno, stamped_tokens FROM channels")
        return {(kind, owner): (seqno, tokens) for kind, owner, seqno, tokens in rows}

    def pending(self) -> dict[int, bytes]:
        rows = self._db.execute("SELECT seqno, session_hash FROM pending_notes")
        return {seqno: bytes(h) for seqno, h in rows}

    def flush(self, seqno: int, values: Mapping[ChannelKey, int], note: Note | None = None) -> None:
        """Stamp ``values`` under ``seqno`` and, if given, record ``note`` as pending; one transaction."""
        with self.ledger.transaction():
            for (kind, owner), tokens in values.items():
                self._db.execute(
                    "INSERT INTO channels (kind, owner, running_tokens, stamped_tokens, stamped_seqno)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, owner) DO UPDATE SET"
                    " stamped_tokens = excluded.stamped_tokens, stamped_seqno = excluded.stamped_seqno",
                    (kind, owner, tokens, tokens, seqno),
                )
            self._set("last_seqno", max(seqno, self.last_seqno))
            if note is not None:
                self._add_pending(note)

    def add_pending(self, note: Note) -> None:
        """Record a note about to be sent (and its seqno as issued)."""
        with self.ledger.transaction():
            self._add_pending(note)

    def _add_pending(self, note: Note) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO pending_notes (seqno, session_hash) VALUES (?, ?)",
            (note.seqno, note.session_hash),
        )
        self._set("last_seqno", max(note.seqno, self.last_seqno))

    def observed(self, cursor_lt: int, seen: Iterable[int]) -> None:
        """The chain was read up to ``cursor_lt`` and the notes of ``seen`` seqnos were on it."""
        with self.ledger.transaction():
            for seqno in seen:
                self._db.execute("DELETE FROM pending_notes WHERE seqno = ?", (seqno,))
            self._set("cursor_lt", cursor_lt)
