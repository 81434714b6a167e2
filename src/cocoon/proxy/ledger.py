"""The proxy's persistent off-chain ledger (SQLite in WAL mode).

It records, per client, the credit it has (from the local network's configuration until settlement on
chain lands) and what it has been charged; per worker, what it has earned; and one row per finished
request. Each finished request is written keyed by its request id, so a retried write cannot
double-charge.

Group commit: `record(..., defer=True)` writes a request into an open batch transaction that many
requests share; `commit()` ends it (the proxy commits once per event-loop iteration and tells nobody
of a deferred request before that: see `ClientBook.durable`). Callbacks given as ``on_commit`` run only
once their rows are committed, so in-memory state that counterparts are told (payment channels) never
gets ahead of the file. Every other write, `transaction()`, `make_durable()` and `close()` commit the
open batch first, so writes keep their order and a crash loses nothing a counterpart was told.

Money is int nanoTON; tokens are adjusted tokens (spec/economics.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cocoon.errors import PaymentError
from cocoon.payments.params import Nano, Tokens

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    credit_nano INTEGER NOT NULL,
    charged_nano INTEGER NOT NULL DEFAULT 0,
    charged_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    earned_nano INTEGER NOT NULL DEFAULT 0,
    earned_tokens INTEGER NOT NULL DEFAULT 0
);
-- One b-tree keyed by the (random) request id, not a rowid table plus an index on it: each request's
-- transaction writes one page fewer (about a quarter less time per record and commit). A ledger made
-- before keeps its rowid table; the statements are the same for both.
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    adjusted_tokens INTEGER NOT NULL,
    client_cost_nano INTEGER NOT NULL,
    worker_earned_nano INTEGER NOT NULL,
    finished_at REAL NOT NULL
) WITHOUT ROWID;
-- Payment channels (cocoon.payments.channel) keyed by the proxy contract they settle on and the
-- counterpart's owner address: running is tokens_max (updated in each request's transaction, so a crash
-- loses nothing acknowledged), stamped the value persisted at local seqno stamped_seqno
-- (committed_to_db); see proxy/settlement/commit_store.py. A proxy contract has its own channels, seqnos
-- and notes: after a params change the old contract is closed on its totals while the new one counts
-- from zero (a new client contract is never charged for usage under the old one).
CREATE TABLE IF NOT EXISTS channels (
    contract TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    running_tokens INTEGER NOT NULL DEFAULT 0,
    stamped_tokens INTEGER NOT NULL DEFAULT 0,
    stamped_seqno INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (contract, kind, owner)
);
CREATE TABLE IF NOT EXISTS commit_state (
    contract TEXT NOT NULL,
    key TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (contract, key)
);
CREATE TABLE IF NOT EXISTS pending_notes (
    contract TEXT NOT NULL,
    seqno INTEGER NOT NULL,
    session_hash BLOB NOT NULL,
    PRIMARY KEY (contract, seqno)
);
"""

CLIENT_CHANNEL, WORKER_CHANNEL = "client", "worker"

PAGE_SIZE = 2048
"""Bytes per page of a new ledger. A commit appends every page it changed to the WAL (a request changes
about five: its row, its client, its worker, their channels), so smaller pages make each commit cheaper:
a request committed alone (as at concurrency 1) takes a fifth to a third less time than with 4096 pages,
one in a group commit of 12 about the same (`benchmarks/bench_ledger.py`). 2048 is as fast as 1024 with
fewer writes and shallower b-trees."""

LEGACY_CONTRACT = ""
"""The contract of channel rows written before the ledger kept them per proxy contract (see
:meth:`~cocoon.proxy.settlement.commit_store.CommitStore.claim_legacy`)."""

_SCOPED = {
    # table: (columns before the contract column was added, in order)
    "channels": "kind, owner, running_tokens, stamped_tokens, stamped_seqno",
    "commit_state": "key, value",
    "pending_notes": "seqno, session_hash",
}


@dataclass(frozen=True, slots=True)
class ClientAccount:
    client_id: str
    credit_nano: Nano
    charged_nano: Nano
    charged_tokens: Tokens

    @property
    def remaining_nano(self) -> Nano:
        """Credit not yet charged (negative when overdrawn)."""
        return Nano(self.credit_nano - self.charged_nano)


@dataclass(frozen=True, slots=True)
class WorkerAccount:
    worker_id: str
    owner: str
    earned_nano: Nano
    earned_tokens: Tokens


@dataclass(slots=True)
class RequestCharge:
    """What one finished request moved: the client paid `client_cost_nano`, the worker earned the rest.

    Not frozen (nobody changes it): built once per request, and a frozen init costs twice as much."""

    request_id: str
    client_id: str
    worker_id: str
    worker_owner: str
    adjusted_tokens: Tokens
    client_cost_nano: Nano
    worker_earned_nano: Nano
    client_owner: str = ""
    """The client's owner address when it pays on chain (its payment channel); empty otherwise."""
    contract: str = LEGACY_CONTRACT
    """The proxy contract (raw address) whose channels count this request (the one it was reserved on)."""


class Ledger:
    """SQLite-backed accounts of clients and workers; safe to reopen after a crash.

    ``page_size``: the page size of a file this creates (a ledger made before keeps its own)."""

    def __init__(self, path: Path | str, *, page_size: int = PAGE_SIZE) -> None:
        if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            raise ValueError(f"a SQLite page size is a power of two from 512 to 65536, not {page_size}")
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # Takes effect only when this creates the file: a ledger made before keeps its page size.
        self._db.execute(f"PRAGMA page_size={page_size}")
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a crash of the process (SIGKILL) at once;
        # only a power loss may drop the latest ones. What the chain will reference (a save-state note)
        # is made durable first with `make_durable`, so a power loss can never orphan a note.
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            _migrate(self._db, path)
        except PaymentError:
            self._db.close()
            raise
        self._db.executescript(_SCHEMA)
        # The per-request writes reuse one cursor: `Connection.execute` makes a new one per statement.
        self._cursor = self._db.cursor()
        self._batch = 0
        """Requests written into the open batch transaction (0: none is open)."""
        self._on_commit: list[Callable[[], None]] = []
        self._lost: BaseException | None = None
        """Why SQLite rolled back a batch whose requests still wait for `commit` (raised there)."""
        self.commits = 0
        """Batches committed since start (`stats`)."""
        self.committed_requests = 0
        """Requests written in those batches: over `commits`, how well group commit groups."""

    def close(self) -> None:
        self.commit()
        self._db.close()

    @property
    def pending(self) -> int:
        """How many deferred requests wait for `commit`."""
        return self._batch

    def commit(self) -> None:
        """Commit the open batch (if any), then run its ``on_commit`` callbacks; ROLLBACK if it fails.

        Raises `PaymentError` when a failed write made SQLite drop the batch (nothing of it is stored).
        """
        if self._lost is not None:  # those waiting for this commit are refused: store none of theirs
            lost, self._lost = self._lost, None
            self._batch = 0
            self._on_commit = []
            if self._db.in_transaction:
                self._cursor.execute("ROLLBACK")
            raise PaymentError(f"the ledger lost a batch of requests to a failed write: {lost}") from lost
        if not self._batch:
            return
        callbacks, self._on_commit = self._on_commit, []
        batch, self._batch = self._batch, 0
        try:
            self._cursor.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._cursor.execute("ROLLBACK")
            raise
        self.commits += 1
        self.committed_requests += batch
        for callback in callbacks:
            callback()

    def commit_stats(self) -> dict[str, float]:
        """Group commit's effect: batches committed, requests in them, requests per batch."""
        per = self.committed_requests / self.commits if self.commits else 0.0
        return {"commits": self.commits, "requests": self.committed_requests, "per_commit": round(per, 2)}

    def make_durable(self) -> None:
        """Write everything committed so far through to disk (fsync), e.g. before the chain refers to it."""
        self.commit()
        self._db.execute("PRAGMA wal_checkpoint(FULL)")

    def ensure_client(self, client_id: str, credit_nano: Nano) -> ClientAccount:
        """Open an account with `credit_nano` if it has none yet; an existing account is kept as is."""
        self.commit()
        self._db.execute(
            "INSERT OR IGNORE INTO clients (client_id, credit_nano) VALUES (?, ?)", (client_id, credit_nano)
        )
        return self.client(client_id)

    def add_credit(self, client_id: str, amount_nano: Nano) -> ClientAccount:
        """Add ``amount_nano`` (positive) to the client's credit, opening its account if needed."""
        if amount_nano <= 0:
            raise PaymentError(f"a credit must be positive, got {amount_nano} nanoTON")
        self.ensure_client(client_id, Nano(0))  # commits the open batch
        self._db.execute(
            "UPDATE clients SET credit_nano = credit_nano + ? WHERE client_id = ?", (amount_nano, client_id)
        )
        return self.client(client_id)

    def client(self, client_id: str) -> ClientAccount:
        row = self._db.execute(
            "SELECT credit_nano, charged_nano, charged_tokens FROM clients WHERE client_id = ?", (client_id,)
        ).fetchone()
        if row is None:
            return ClientAccount(client_id, Nano(0), Nano(0), Tokens(0))
        return ClientAccount(client_id, *row)

    def worker(self, worker_id: str) -> WorkerAccount | None:
        row = self._db.execute(
            "SELECT owner, earned_nano, earned_tokens FROM workers WHERE worker_id = ?", (worker_id,)
        ).fetchone()
        return None if row is None else WorkerAccount(worker_id, *row)

    def workers(self) -> list[WorkerAccount]:
        rows = self._db.execute("SELECT worker_id, owner, earned_nano, earned_tokens FROM workers ORDER BY 1")
        return [WorkerAccount(*row) for row in rows]

    def clients(self) -> list[ClientAccount]:
        rows = self._db.execute("SELECT client_id, credit_nano, charged_nano, charged_tokens FROM clients")
        return [ClientAccount(*row) for row in rows]

    def record(
        self,
        charge: RequestCharge,
        finished_at: float,
        *,
        defer: bool = False,
        on_commit: Callable[[], None] | None = None,
    ) -> bool:
        """Charge the client and credit the worker for one request, atomically and at most once.

        Returns False (and changes nothing) when this request id was already recorded (committed or in
        the open batch). ``defer``: leave it in the open batch until `commit` (tell nobody before);
        otherwise it is committed before returning. ``on_commit`` runs once the row is committed.
        """
        if min(charge.adjusted_tokens, charge.client_cost_nano, charge.worker_earned_nano) < 0:
            raise PaymentError(f"negative amounts in the charge of request {charge.request_id}")
        # A failed write undoes itself, not the batch: a savepoint around it, or (the first of a batch,
        # the usual case) the ROLLBACK of its own transaction, two statements fewer.
        alone = not self._batch
        self._cursor.execute("BEGIN IMMEDIATE" if alone else "SAVEPOINT request")
        self._batch += 1
        try:
            inserted = self._write(charge, finished_at)
            if not alone:
                self._cursor.execute("RELEASE request")
        except BaseException as exc:
            self._undo(exc, alone)
            raise
        if inserted and on_commit is not None:
            self._on_commit.append(on_commit)
        if not defer:
            self.commit()
        return inserted

    def _undo(self, exc: BaseException, alone: bool) -> None:
        """Undo a failed write (``alone``: the only one of its transaction); if SQLite already rolled
        the whole batch back, `commit` will say so."""
        if alone:
            if self._db.in_transaction:
                self._cursor.execute("ROLLBACK")
            self._batch = 0
            self._on_commit = []
        elif self._db.in_transaction:
            self._cursor.execute("ROLLBACK TO request")
            self._cursor.execute("RELEASE request")
        else:
            if self._batch > 1:  # earlier requests of the batch were lost with it
                self._lost = exc
            self._batch = 0
            self._on_commit = []

    def _write(self, charge: RequestCharge, finished_at: float) -> bool:
        """One request's rows, inside the open batch transaction."""
        inserted = self._cursor.execute(
            "INSERT OR IGNORE INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                charge.request_id,
                charge.client_id,
                charge.worker_id,
                charge.adjusted_tokens,
                charge.client_cost_nano,
                charge.worker_earned_nano,
                finished_at,
            ),
        ).rowcount
        if not inserted:
            return False
        self._cursor.execute(  # opens the account (no credit) if the client has none
            "INSERT INTO clients (client_id, credit_nano, charged_nano, charged_tokens) VALUES (?, 0, ?, ?)"
            " ON CONFLICT(client_id) DO UPDATE SET charged_nano = charged_nano + excluded.charged_nano,"
            " charged_tokens = charged_tokens + excluded.charged_tokens",
            (charge.client_id, charge.client_cost_nano, charge.adjusted_tokens),
        )
        self._cursor.execute(
            "INSERT INTO workers (worker_id, owner, earned_nano, earned_tokens) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(worker_id) DO UPDATE SET earned_nano = earned_nano + excluded.earned_nano,"
            " earned_tokens = earned_tokens + excluded.earned_tokens, owner = excluded.owner",
            (charge.worker_id, charge.worker_owner, charge.worker_earned_nano, charge.adjusted_tokens),
        )
        for kind, owner in ((CLIENT_CHANNEL, charge.client_owner), (WORKER_CHANNEL, charge.worker_owner)):
            if owner:
                self._cursor.execute(
                    "INSERT INTO channels (contract, kind, owner, running_tokens) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(contract, kind, owner) DO UPDATE SET running_tokens = running_tokens + ?",
                    (charge.contract, kind, owner, charge.adjusted_tokens, charge.adjusted_tokens),
                )
        return True

    def request(self, request_id: str) -> RequestCharge | None:
        row = self._db.execute(
            "SELECT r.request_id, r.client_id, r.worker_id, w.owner, r.adjusted_tokens, r.client_cost_nano,"
            " r.worker_earned_nano FROM requests r JOIN workers w USING (worker_id) WHERE r.request_id = ?",
            (request_id,),
        ).fetchone()
        return None if row is None else RequestCharge(*row)

    @property
    def connection(self) -> sqlite3.Connection:
        """The database connection (for the commit store, which shares the file and transactions)."""
        return self._db

    def transaction(self) -> _Transaction:
        """``with ledger.transaction(): ...``: BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); the open
        batch is committed first."""
        self.commit()
        return _Transaction(self._db)


def _migrate(db: sqlite3.Connection, path: Path | str) -> None:
    """Add the contract column to the settlement tables of a database written before they had one; its
    rows get :data:`LEGACY_CONTRACT` (claimed by the proxy contract they belong to at the next start).

    One transaction: on failure nothing changes and :class:`PaymentError` says what to do."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(channels)")}
    if not columns or "contract" in columns:
        return
    try:
        db.execute("BEGIN IMMEDIATE")
        for table in _SCOPED:
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_unscoped")
        # one statement at a time (executescript would commit); comments dropped (they hold ";")
        schema = "\n".join(line for line in _SCHEMA.splitlines() if not line.lstrip().startswith("--"))
        for statement in schema.split(";"):
            if statement.strip():
                db.execute(statement)
        for table, cols in _SCOPED.items():
            db.execute(
                f"INSERT INTO {table} (contract, {cols}) SELECT ?, {cols} FROM {table}_unscoped",
                (LEGACY_CONTRACT,),
            )
            db.execute(f"DROP TABLE {table}_unscoped")
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise PaymentError(
            f"the proxy database {path} could not be upgraded to keep payment channels per proxy "
            f"contract ({exc}); it is unchanged: free disk space or fix its permissions and restart, or "
            "restore it from a backup"
        ) from exc


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
