"""The workers a request may be end-to-end encrypted to, per proxy: asked of the proxy, verified here.

`E2EWorkers.candidates` asks the proxy for its ranked candidates (`E2ECandidates`, at most every
`REFRESH_S` per proxy, model, endpoint and price ceiling, and again after `invalidate`, which the
client calls when a worker does not know the key a request was sealed to, or when the proxy says some
of an envelope's keys are held by no worker any more). Each certificate is
checked once (`cocoon.client.e2e_verdict.check_certificate`); its verdict is kept by hash until the
certificate or key expires, and its hash is sent back as ``known`` so the proxy does not re-send it.
The first `SEAL_TO` verified workers are the ones a request is sealed to; the refused ones, with
their reasons, are kept for the error an app sees when none is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from cocoon.api.error_codes import openai_type
from cocoon.attestation.certificate import parse_certificate
from cocoon.attestation.policy import Policy
from cocoon.client.e2e_verdict import VerdictCache, VerifiedKey, check_certificate, usable
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.e2e.envelope import MAX_CANDIDATES
from cocoon.errors import CocoonError, RequestError
from cocoon.net.tls import policy_prepare
from cocoon.wire.control import ControlBody, E2ECandidateList, E2ECandidates

log = logging.getLogger(__name__)

REFRESH_S = 20.0
"""How long a proxy's candidate list is used before it is asked again."""
EMPTY_REFRESH_S = 5.0
"""...and a list without one usable worker (or a failed ask): sooner."""
WANT = 8
"""Candidates asked of the proxy (more than are sealed to, so refused ones can be skipped)."""
SEAL_TO = MAX_CANDIDATES
QUERY_TIMEOUT_S = 5.0
MAX_LISTS = 256


class QueryConnection(Protocol):
    """What the pool needs of a proxy connection (`cocoon.net.rpc.RpcConnection`)."""

    async def query(self, body: ControlBody, timeout: float = 30.0) -> ControlBody: ...  # noqa: ASYNC109


@dataclass(frozen=True, slots=True)
class Candidate:
    """A verified worker a request may be sealed to: the proxy's id for it and its verified key."""

    worker_id: str
    key: VerifiedKey


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """What the client may seal one request to, and why the other listed workers were left out."""

    chosen: tuple[Candidate, ...]
    """At most `SEAL_TO`, in the proxy's order of preference."""
    refusals: tuple[tuple[str, str], ...]
    """(worker id, reason) of each listed worker left out."""
    note: str = ""
    """Why the proxy listed nothing, when it did not answer (empty otherwise)."""
    fetched: bool = False
    """Whether this call asked the proxy (False: from the list kept)."""
    no_worker: RequestError | None = None
    """Set when the proxy said no worker can take such a request at all (unknown model, endpoint not
    served, price too low): the error a plaintext request would get, to give the app as it is."""

    def explain(self) -> str:
        """Why no worker can be used: the refusals, or that the proxy listed none."""
        if self.refusals:
            return "; ".join(f"worker {worker[:64]}: {reason}" for worker, reason in self.refusals)
        return self.note or "the proxy listed no worker with an end-to-end key"


@dataclass(frozen=True, slots=True)
class _Listed:
    worker_id: str
    certificate_sha256: bytes
    refusal: str = ""
    """Set when the entry could not be checked (e.g. the proxy sent no certificate)."""


@dataclass
class _List:
    fetched_at: float
    listed: tuple[_Listed, ...] = ()
    note: str = ""
    refresh_s: float = REFRESH_S
    no_worker: RequestError | None = None


ListKey = tuple[str, str, str, int]
"""(proxy address, model, endpoint, max coefficient)."""


@dataclass
class E2EWorkers:
    """Candidate lists per proxy, model, endpoint and price ceiling, over one cache of verdicts."""

    policy: Policy
    """The worker policy (`cocoon.node.admission.WorkerAdmission`): what a worker must prove."""
    clock: Clock = SYSTEM_CLOCK
    cache: VerdictCache = field(default_factory=VerdictCache)
    checked: int = 0
    """Certificates verified since start (each once while its verdict lasts)."""
    stale_lists: int = 0
    """Lists dropped early because their proxy said they name keys no worker holds any more."""
    _lists: OrderedDict[ListKey, _List] = field(default_factory=OrderedDict)
    _locks: dict[ListKey, asyncio.Lock] = field(default_factory=dict)

    async def candidates(
        self,
        address: str,
        conn: QueryConnection,
        model: str,
        endpoint: str,
        max_coefficient: int,
        *,
        timeout_s: float = QUERY_TIMEOUT_S,
    ) -> CandidateSet:
        """The workers behind ``address`` a request may be sealed to now (asking the proxy if due)."""
        key = (address, model, endpoint, max_coefficient)
        entry = self._lists.get(key)
        if entry is not None and not self._due(entry):  # the usual case: no asking, so no lock to take
            return self._candidate_set(entry, model, fetched=False)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:  # one request asks the proxy; those that come meanwhile take its list
            entry = self._lists.get(key)
            fetched = False
            if entry is None or self._due(entry):
                entry = await self._fetch(conn, key, entry, timeout_s)
                fetched = True
            return self._candidate_set(entry, model, fetched=fetched)

    def _candidate_set(self, entry: _List, model: str, *, fetched: bool) -> CandidateSet:
        chosen, refusals = self._choose(entry, model, self.clock.time())
        if not chosen:
            entry.refresh_s = min(entry.refresh_s, EMPTY_REFRESH_S)
        return CandidateSet(chosen, refusals, entry.note, fetched, entry.no_worker)

    def invalidate(
        self, address: str, model: str, endpoint: str, max_coefficient: int, *, stale: bool = False
    ) -> None:
        """Forget the list kept for this proxy and request kind: the next request asks again.
        ``stale``: because the proxy said it names keys no worker holds any more (counted)."""
        if self._lists.pop((address, model, endpoint, max_coefficient), None) is not None and stale:
            self.stale_lists += 1

    def stats(self) -> dict[str, int]:
        return {
            "verdicts": len(self.cache),
            "lists": len(self._lists),
            "certificates_checked": self.checked,
            "stale_lists": self.stale_lists,
        }

    def _due(self, entry: _List) -> bool:
        if self.clock.monotonic() - entry.fetched_at >= entry.refresh_s:
            return True
        # A verdict that expired since the list was fetched: the proxy has the worker's new certificate.
        now = self.clock.time()
        return any(not e.refusal and self.cache.get(e.certificate_sha256, now) is None for e in entry.listed)

    async def _fetch(self, conn: QueryConnection, key: ListKey, old: _List | None, timeout_s: float) -> _List:
        _, model, endpoint, max_coefficient = key
        now = self.clock.time()
        previous = [e.certificate_sha256 for e in old.listed] if old is not None else []
        ask = E2ECandidates(model, max_coefficient, WANT, endpoint, self.cache.known(now, previous))
        entry = _List(self.clock.monotonic())
        try:
            answer = await conn.query(ask, timeout=timeout_s)
        except CocoonError as exc:
            entry.note = f"the proxy did not list end-to-end candidates: {exc}"
        else:
            if isinstance(answer, E2ECandidateList) and answer.refusal_status:
                entry.no_worker = RequestError(
                    answer.refusal[:1000],
                    status=answer.refusal_status if 400 <= answer.refusal_status < 500 else 502,
                    error_type=openai_type(answer.refusal_code),
                    code=answer.refusal_code[:64] or None,
                )
            elif isinstance(answer, E2ECandidateList):
                await self._prepare(answer, now)
                entry.listed = tuple(
                    self._check(c.worker_id, c.certificate_sha256, c.certificate, now)
                    for c in answer.candidates
                )
            else:
                entry.note = f"the proxy answered the candidate query with {type(answer).__name__}"
        self._lists[key] = entry
        self._lists.move_to_end(key)
        while len(self._lists) > MAX_LISTS:
            dropped, _ = self._lists.popitem(last=False)
            self._locks.pop(dropped, None)
        return entry

    async def _prepare(self, answer: E2ECandidateList, now: float) -> None:
        """Await the policy's step before a verdict (a ``tdx`` policy fetches DCAP collateral for the
        worker's platform) for each certificate not yet judged, as a handshake does."""
        prepare = policy_prepare(self.policy)
        if prepare is None:
            return
        for c in answer.candidates:
            if not c.certificate or self.cache.get(hashlib.sha256(c.certificate).digest(), now) is not None:
                continue
            try:
                await prepare(parse_certificate(c.certificate, now), now)
            except CocoonError as exc:  # the check that follows refuses it, with the policy's reason
                log.info("end-to-end candidate %s: %s", c.worker_id, exc)

    def _check(self, worker_id: str, claimed_sha256: bytes, der: bytes, now: float) -> _Listed:
        if not der:
            if self.cache.get(claimed_sha256, now) is None:
                return _Listed(worker_id, claimed_sha256, "the proxy sent no certificate for it")
            return _Listed(worker_id, claimed_sha256)
        sha = hashlib.sha256(der).digest()  # the proxy's claimed hash is not trusted
        if self.cache.get(sha, now) is None:
            self.checked += 1
            self.cache.put(check_certificate(der, self.policy, now))
        return _Listed(worker_id, sha)

    def _choose(
        self, entry: _List, model: str, now: float
    ) -> tuple[tuple[Candidate, ...], tuple[tuple[str, str], ...]]:
        chosen: list[Candidate] = []
        refusals: list[tuple[str, str]] = []
        key_ids: set[bytes] = set()
        for listed in entry.listed:
            verdict = self.cache.get(listed.certificate_sha256, now)
            outcome = listed.refusal or (
                usable(verdict, model, now) if verdict is not None else "its verdict expired; asking again"
            )
            if isinstance(outcome, str):
                refusals.append((listed.worker_id, outcome))
            elif outcome.key_id not in key_ids and len(chosen) < SEAL_TO:
                key_ids.add(outcome.key_id)
                chosen.append(Candidate(listed.worker_id, outcome))
        return tuple(chosen), tuple(refusals)
