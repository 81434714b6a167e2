"""Fakes for the client's end-to-end tests: attested workers with HPKE keys, and a proxy that lists
them, relays what they answer and lets a test tamper with the relayed parts.

The worker is real where it matters: it opens the envelope with `open_request`, seals its answer with
`FrameSealer` and signs a v2 receipt over the frames, with the key its (fake-quoted) certificate
attests. The proxy is a stand-in for an `RpcConnection` in the client's `ProxyPool`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.claims import report_data_for
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.issue import issue_certificate
from cocoon.attestation.providers import FakeQuoteProvider, QuoteProvider
from cocoon.attestation.receipt_e2e import E2EReceipt, sign_e2e_receipt
from cocoon.attestation.statement import Statement, make_statement, model_hash, sign_statement
from cocoon.client.e2e_workers import E2EWorkers
from cocoon.client.network import ProxyPool
from cocoon.clock import FakeClock
from cocoon.e2e.envelope import Routing, open_request, read_header
from cocoon.e2e.frames import FrameSealer
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache
from cocoon.node.admission import ConfigAllowlist, WorkerAdmission
from cocoon.node.policy import make_policy
from cocoon.roles import E2EMode
from cocoon.usage import Usage
from cocoon.wire.control import (
    ControlBody,
    E2ECandidate,
    E2ECandidateList,
    E2ECandidates,
    GetWorkerTypes,
    WorkerTypes,
)
from cocoon.wire.headers import WORKER_KEY, WORKER_STATEMENT
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart, RunQuery

NOW = 1_750_000_000
MODEL = "m@1:abc"
USAGE = Usage(prompt_tokens=5, completion_tokens=2)
PROXY = "proxy-1:11002"


def worker_identity(
    *, model: str = MODEL, e2e: bool = True, provider: QuoteProvider | None = None, now: float = NOW
) -> NodeIdentity:
    """A worker's identity with a certificate issued at ``now``; ``e2e``: with a published HPKE key."""
    identity = NodeIdentity(
        Ed25519PrivateKey.generate(),
        provider or FakeQuoteProvider(),
        os.urandom,
        claims=make_statement(int(now), model_id=model, model_hash=model_hash(model)),
        keyring=Keyring(os.urandom) if e2e else None,
    )
    identity.issue(now)
    return identity


def certificate_with(key: Ed25519PrivateKey, statement: bytes, now: float = NOW) -> RaTlsCertificate:
    """A fake-quoted certificate of ``key`` carrying ``statement`` bytes as they are."""
    public = key.public_key().public_bytes_raw()
    quote = FakeQuoteProvider().quote(report_data_for(public))
    return issue_certificate(key, quote=quote, now=now, serial=1, statement=statement)


def signed_statement(key: Ed25519PrivateKey, statement: Statement) -> bytes:
    return sign_statement(statement, key)


def fake_admission() -> WorkerAdmission:
    return WorkerAdmission(make_policy("fake"), ConfigAllowlist([]))


@dataclass
class FakeWorker:
    """A worker behind the fake proxy: answers a sealed RunQuery with frames and a v2 receipt."""

    worker_id: str
    identity: NodeIdentity
    events: list[bytes]
    status: int = 200
    content_type: str = "text/event-stream"
    replay: ReplayCache = field(default_factory=lambda: ReplayCache(240))
    served: list[bytes] = field(default_factory=list)
    """The bodies it opened."""
    receipt_edit: Callable[[E2EReceipt], E2EReceipt] = lambda receipt: receipt
    error_body: bytes = b""
    """Sealed as an error frame after the data frames, when set."""
    broken: bool = False
    """End without a final frame: a plaintext AnswerError with a partial receipt (failure mid-answer)."""
    signer: NodeIdentity | None = None
    """Another attested node that signs the receipt and is named in the head (a proxy's accomplice)."""
    tags: bool = True
    """Tag the receipt under the answer's keys, as a worker does (False: a worker that predates tags)."""

    @property
    def der(self) -> bytes:
        return self.identity.certificate.der

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.der).digest()

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The plaintext head headers: the worker's statement, and (the proxy's) its attested key."""
        named = self.signer or self.identity
        statement = named.certificate.statement
        return (
            (WORKER_KEY, named.public_key.hex()),
            (WORKER_STATEMENT, base64.b64encode(statement).decode()),
        )

    def answer(self, query: RunQuery, now: float = NOW) -> list[AnswerPart]:
        assert query.e2e is not None and query.body == b""
        assert self.identity.keyring is not None
        header = read_header(query.e2e)
        q = query
        routing = Routing(q.client_request_id, q.model, q.path, q.max_tokens, header.n, q.max_coefficient)
        opened = open_request(query.e2e, routing, self.identity.keyring, self.replay, now)
        self.served.append(opened.body)
        rn = os.urandom(32)
        sealer = FrameSealer(opened.secret, rn)
        rid = query.request_id
        frames = [sealer.head(self.status, self.content_type)]
        for event in self.events:
            frames += list(sealer.data(event))
        if self.error_body:
            frames += list(sealer.error(self.error_body))
        if not self.broken:
            frames.append(sealer.final())
        receipt = E2EReceipt(
            version=2,
            request_id=query.client_request_id,
            hop_request_id=rid,
            model_id=query.model,
            key_id=opened.key_id,
            header_sha256=opened.secret.h,
            envelope_sha256=query.e2e.sha256(),
            frames_sha256=sealer.log.digest(),
            frame_count=sealer.log.count,
            final=sealer.log.final,
            max_tokens=query.max_tokens,
            n=header.n,
            prompt_tokens=USAGE.prompt_tokens,
            cached_tokens=0,
            completion_tokens=USAGE.completion_tokens,
            reasoning_tokens=0,
            coefficient=1000,
            issued_at=int(now),
        )
        signer = (self.signer or self.identity).private_key
        signed = sign_e2e_receipt(self.receipt_edit(receipt), signer)
        if self.tags:
            signed = signed.with_tag(sealer.receipt_tag)
        end: AnswerEnd | AnswerError = AnswerEnd(
            rid, USAGE, adjusted_tokens=7, cost=7_000, prompt_cost=5_000, receipt=signed.encode()
        )
        if self.broken:
            message = "worker w: the engine failed"
            end = AnswerError(rid, 502, "upstream_error", message, USAGE, receipt=signed.encode())
        head = AnswerHead(rid, (self.status // 100) * 100, self.headers(), e2e_nonce=rn)
        return [head, *(AnswerChunk(rid, frame) for frame in frames), end]

    def plain_answer(self, query: RunQuery) -> list[AnswerPart]:
        """What a plaintext request gets (the same events, no receipt)."""
        assert query.e2e is None and query.body
        rid = query.request_id
        head = AnswerHead(rid, self.status, (("content-type", self.content_type),))
        end = AnswerEnd(rid, USAGE, adjusted_tokens=7, cost=7_000, prompt_cost=5_000)
        return [head, *(AnswerChunk(rid, event) for event in self.events), end]


class FakeStream:
    """An `RpcAnswerStream` stand-in yielding scripted parts; as the real one, an iterator, not a
    generator."""

    def __init__(self, request_id: int, parts: list[AnswerPart], proxy: FakeProxy) -> None:
        self.request_id = request_id
        self._parts = iter(parts)
        self._proxy = proxy

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> AnswerPart:
        try:
            return next(self._parts)
        except StopIteration:
            raise StopAsyncIteration from None

    def cancel(self, reason: str = "") -> bool:
        self._proxy.cancels.append(reason)
        return True


Answerer = Callable[[RunQuery], list[AnswerPart]]


@dataclass
class FakeProxy:
    """Lists ``workers`` as end-to-end candidates (omitting certificates the client knows) and answers
    each RunQuery with the next of ``answers`` (a function of the query), else with the first
    worker's answer; ``tamper`` edits the answer's parts before they are relayed."""

    workers: list[FakeWorker]
    answers: list[Answerer] = field(default_factory=list)
    tamper: Callable[[list[AnswerPart]], list[AnswerPart]] = lambda parts: parts
    asked: list[E2ECandidates] = field(default_factory=list)
    queries: list[RunQuery] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    active_streams: int = 0

    async def query(self, body: ControlBody, timeout: float = 30.0) -> ControlBody:  # noqa: ASYNC109
        if isinstance(body, GetWorkerTypes):
            return WorkerTypes(())  # lists nothing: the client sends to it as the only proxy there is
        assert isinstance(body, E2ECandidates)
        self.asked.append(body)
        return E2ECandidateList(
            tuple(
                E2ECandidate(w.worker_id, w.sha256, b"" if w.sha256 in body.known else w.der, 1000)
                for w in self.workers
            )
        )

    async def run_query(self, query: RunQuery) -> FakeStream:
        self.queries.append(query)
        if self.answers:
            parts = self.answers.pop(0)(query)
        elif query.e2e is None:
            parts = self.workers[0].plain_answer(query)
        else:
            parts = self.workers[0].answer(query)
        return FakeStream(query.request_id, self.tamper(parts), self)


def make_pool(proxy: FakeProxy, mode: E2EMode = "required", clock: FakeClock | None = None) -> ProxyPool:
    """A `ProxyPool` connected to ``proxy`` only."""
    clock = clock or FakeClock(wall=NOW)
    identity = NodeIdentity.create(Ed25519PrivateKey.generate(), None, os.urandom, NOW)
    workers = E2EWorkers(fake_admission(), clock) if mode != "off" else None
    pool = ProxyPool([PROXY], identity, make_policy("fake"), clock=clock, e2e=mode, workers=workers)
    pool.links.connections[PROXY] = proxy  # type: ignore[assignment]
    return pool


def reroute(query: RunQuery) -> list[AnswerPart]:
    return [AnswerError(query.request_id, 503, "e2e_reroute", "no listed worker could take it")]


def key_unknown(query: RunQuery) -> list[AnswerPart]:
    return [AnswerError(query.request_id, 503, "e2e_key_unknown", "the key is not held here")]


def replace_statement(statement: Statement, **changes: object) -> Statement:
    return msgspec.structs.replace(statement, **changes)
