"""The proxy's persisted commit state, in the ledger's SQLite file (spec/economics.md, "Commit pipeline").

Tables (schema in :mod:`cocoon.proxy.ledger`), every row under the proxy contract it belongs to (one
:class:`CommitStore` per contract: after a params change the old contract closes on its own rows while
the new one starts from none): ``channels`` (per counterpart: running total, value and seqno of the
last stamp), ``commit_state`` (``last_seqno``, ``cursor_lt``: how far the proxy contract's transaction
list was read; ``close_requested``: the contract is to be closed) and ``pending_notes`` (save-state
notes issued but not yet seen on chain).

What must change together is written in one transaction: a flush stamps every changed channel under
one new seqno; issuing a note records it as pending *before* it is sent; reading the chain advances the
cursor and drops the notes it saw at once (a restart replays from the cursor and must not meet a note
it already forgot).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from cocoon.errors import PaymentError
from cocoon.payments.commit import CommitPipeline, Note
from cocoon.proxy.ledger import LEGACY_CONTRACT, Ledger
from cocoon.proxy.settlement.channels import ChannelKey

log = logging.getLogger(__name__)

_TABLES = ("channels", "commit_state", "pending_notes")


class CommitStore:
    """Reads and writes the commit state of the proxy contract ``contract`` (its raw address) through a
    :class:`Ledger`'s connection."""

    def __init__(self, ledger: Ledger, contract: str) -> None:
        self.ledger = ledger
        self.contract = contract
        self._db = ledger.connection

    def _get(self, key: str) -> int:
        row = self._db.execute(
            "SELECT value FROM commit_state WHERE contract = ? AND key = ?", (self.contract, key)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def _set(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO commit_state (contract, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT(contract, key) DO UPDATE SET value = excluded.value",
            (self.contract, key, value),
        )

    @staticmethod
    def closing_contracts(ledger: Ledger) -> list[str]:
        """The proxy contracts whose close was asked (the operator's, or a params change's) and not
        seen done (:meth:`closed`): a restarted proxy carries each close on."""
        rows = ledger.connection.execute(
            "SELECT contract FROM commit_state WHERE key = 'close_requested' AND value != 0 AND contract"
            " NOT IN (SELECT contract FROM commit_state WHERE key = 'closed' AND value != 0) ORDER BY 1"
        )
        return [contract for (contract,) in rows]

    @staticmethod
    def unclosed_contracts(ledger: Ledger) -> list[str]:
        """Every proxy contract the database has commit state of, except those seen closed."""
        rows = ledger.connection.execute(
            "SELECT DISTINCT contract FROM commit_state WHERE contract != ? AND contract NOT IN"
            " (SELECT contract FROM commit_state WHERE key = 'closed' AND value != 0) ORDER BY 1",
            (LEGACY_CONTRACT,),
        )
        return [contract for (contract,) in rows]

    def closed(self) -> None:
        """The contract is closed on chain: nothing is left to do for it after a restart."""
        with self.ledger.transaction():
            self._set("closed", 1)

    def claim_legacy(self, deployed: bool) -> None:
        """Give the rows written before the ledger kept them per contract to this contract, if they are
        its own: the proxy deployed ``deployed`` contracts before (its address follows from the proxy's
        key and the params, so a deployed one is the one those rows were counted on). Rows of a contract
        that is not deployed belong to a contract under earlier params: dropped when they owe nothing,
        else :class:`~cocoon.errors.PaymentError` (nothing changed) says what to do."""
        db = self._db
        if not any(
            db.execute(f"SELECT 1 FROM {table} WHERE contract = ? LIMIT 1", (LEGACY_CONTRACT,)).fetchone()
            for table in _TABLES
        ):
            return
        if not deployed:
            (owed,) = db.execute(
                "SELECT COUNT(*) FROM channels WHERE contract = ? AND running_tokens > 0", (LEGACY_CONTRACT,)
            ).fetchone()
            if owed:
                raise PaymentError(
                    f"the proxy database holds {owed} payment channels counted before it kept them per "
                    f"proxy contract, and the proxy contract for the root's current params "
                    f"({self.contract}) was never deployed: the root's params changed since, so those "
                    "channels belong to the proxy contract under the earlier params. Start the earlier "
                    "version of the proxy to close that contract (`cocoon proxy close`), then move this "
                    "database away and start again"
                )
        with self.ledger.transaction():
            for table in _TABLES:
                if deployed:
                    db.execute(
                        f"UPDATE {table} SET contract = ? WHERE contract = ?",
                        (self.contract, LEGACY_CONTRACT),
                    )
                else:
                    db.execute(f"DELETE FROM {table} WHERE contract = ?", (LEGACY_CONTRACT,))
        log.info(
            "proxy database: the rows of before it kept them per contract %s proxy contract %s",
            "now belong to" if deployed else "owed nothing and were dropped; this is",
            self.contract,
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
        """Persist a close request (the operator's, or a params change's) before anything is sent: a
        restart resumes the close."""
        with self.ledger.transaction():
            self._set("close_requested", 1)

    def pipeline(self, session_hash: bytes, note_interval_s: float) -> CommitPipeline:
        """The commit pipeline of a new session, resuming the persisted seqno and pending notes."""
        return CommitPipeline(
            session_hash, last_seqno=self.last_seqno, pending=self.pending(), note_interval_s=note_interval_s
        )

    def channels(self) -> dict[ChannelKey, int]:
        """Every channel's running total (``tokens_max``, durable per request)."""
        rows = self._db.execute(
            "SELECT kind, owner, running_tokens FROM channels WHERE contract = ?", (self.contract,)
        )
        return {(kind, owner): tokens for kind, owner, tokens in rows}

    def stamped(self) -> dict[ChannelKey, tuple[int, int]]:
        """Every channel's last stamp: (seqno, tokens)."""
        rows = self._db.execute(
            "SELECT kind, owner, stamped_seqno, stamped_tokens FROM channels WHERE contract = ?",
            (self.contract,),
        )
        return {(kind, owner): (seqno, tokens) for kind, owner, seqno, tokens in rows}

    def pending(self) -> dict[int, bytes]:
        rows = self._db.execute(
            "SELECT seqno, session_hash FROM pending_notes WHERE contract = ?", (self.contract,)
        )
        return {seqno: bytes(h) for seqno, h in rows}

    def flush(self, seqno: int, values: Mapping[ChannelKey, int], note: Note | None = None) -> None:
        """Stamp ``values`` under ``seqno`` and, if given, record ``note`` as pending; one transaction."""
        with self.ledger.transaction():
            for (kind, owner), tokens in values.items():
                self._db.execute(
                    "INSERT INTO channels (contract, kind, owner, running_tokens, stamped_tokens,"
                    " stamped_seqno) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(contract, kind, owner) DO UPDATE"
                    " SET stamped_tokens = excluded.stamped_tokens, stamped_seqno = excluded.stamped_seqno",
                    (self.contract, kind, owner, tokens, tokens, seqno),
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
            "INSERT OR REPLACE INTO pending_notes (contract, seqno, session_hash) VALUES (?, ?, ?)",
            (self.contract, note.seqno, note.session_hash),
        )
        self._set("last_seqno", max(note.seqno, self.last_seqno))

    def observed(self, cursor_lt: int, seen: Iterable[int]) -> None:
        """The chain was read up to ``cursor_lt`` and the notes of ``seen`` seqnos were on it."""
        with self.ledger.transaction():
            for seqno in seen:
                self._db.execute(
                    "DELETE FROM pending_notes WHERE contract = ? AND seqno = ?", (self.contract, seqno)
                )
            self._set("cursor_lt", cursor_lt)
