"""Durable state of the local chain: accounts' shard states and the transaction log, in SQLite.

One SQLite transaction per applied trace (a message and everything it caused), in WAL mode: a crash
leaves either the whole trace or none of it, so balances never half-move. ``path=None`` keeps
everything in memory (tests).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from cocoon.errors import ChainError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (address TEXT PRIMARY KEY, shard_account BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    address TEXT NOT NULL, lt INTEGER NOT NULL, hash BLOB NOT NULL, boc BLOB NOT NULL,
    PRIMARY KEY (address, lt)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class ChainStore:
    """SQLite file holding the local chain; every write method is one atomic commit."""

    def __init__(self, path: Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        self._lock_fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(path)
        try:
            self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ChainError(f"cannot open the local chain database {target}: {exc}; check the path") from exc

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def accounts(self) -> Iterator[tuple[str, bytes]]:
        """Every (raw address, ShardAccount BoC)."""
        yield from self._db.execute("SELECT address, shard_account FROM accounts")

    def meta(self, key: str, default: int) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else default

    def commit(
        self,
        accounts: Iterable[tuple[str, bytes]],
        transactions: Iterable[tuple[str, int, bytes, bytes]],
        meta: dict[str, int],
    ) -> None:
        """Write changed accounts, new transactions and counters in one atomic transaction."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO accounts VALUES (?, ?)", accounts)
            db.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?)", transactions)
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise ChainError(f"cannot persist the local chain: {exc}; is the disk full?") from exc

    def transactions(self, address: str, after_lt: int, limit: int) -> list[bytes]:
        """Transaction BoCs of ``address`` with lt > ``after_lt``, oldest first."""
        rows = self._db.execute(
            "SELECT boc FROM transactions WHERE address = ? AND lt > ? ORDER BY lt LIMIT ?",
            (address, after_lt, limit),
        )
        return [bytes(r[0]) for r in rows]

    def transactions_before(self, address: str, before_lt: int | None, limit: int) -> list[bytes]:
        """Transaction BoCs of ``address`` with lt < ``before_lt`` (all if None), newest first."""
        bound = before_lt if before_lt is not None else 2**63 - 1
        rows = self._db.execute(
            "SELECT boc FROM transactions WHERE address = ? AND lt < ? ORDER BY lt DESC LIMIT ?",
            (address, bound, limit),
        )
        return [bytes(r[0]) for r in rows]

    def transaction_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])


def _lock(db: Path) -> int:
    """Hold an exclusive lock for the chain's lifetime: two processes on one chain would fork it."""
    fd = os.open(db.with_name(db.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise ChainError(
            f"another process already runs the local chain stored in {db}; "
            "connect to its `cocoon chain serve` API instead of opening the files"
        ) from exc
    return fd
