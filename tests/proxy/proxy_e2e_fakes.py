"""A real proxy on port 0 with fake end-to-end workers and a raw client, for the proxy's e2e tests.

Each `FakeE2EWorker` is a real attested connection to the proxy's worker port, with its own keyring
published in its certificate's statement (statement v2) and re-sent in its `WorkerState`. It serves
requests with the real envelope and frame code (`open_request`, `FrameSealer`) and signs v2 receipts
with its certificate key; `Behaviour` makes it lie in one way or another. `E2EClient` seals bodies to
the workers' keys with `seal_request` and reads answers with `FrameOpener`, as a client daemon would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.api.error_codes import E2E_KEY_UNKNOWN
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.providers import FakeQuoteProvider
from cocoon.attestation.receipt_e2e import E2EReceipt, sign_e2e_receipt
from cocoon.attestation.statement import make_statement
from cocoon.e2e.envelope import (
    ISSUE_WINDOW_S,
    Envelope,
    Routing,
    SealedRequest,
    open_request,
    read_header,
    seal_request,
)
from cocoon.e2e.frames import FrameOpener, FrameType
from cocoon.e2e.frames import FrameSealer as Sealer
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache
from cocoon.errors import E2EError
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.rpc_stream import Responder
from cocoon.net.tls import connect_attested
from cocoon.node.admission import ConfigAllowlist, WorkerAdmission
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.payments.params import Nano
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService
from cocoon.proxy.workers import WorkerLink
from cocoon.roles import ProxyConfig
from cocoon.usage import Usage
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    AnswerPart,
    Role,
    RunQuery,
    WorkerState,
)
from cocoon.wire.session import EndpointConfig
from waiting import wait_until

MODEL = "e2e-test-model"
CHAT = "/v1/chat/completions"
USAGE = Usage(prompt_tokens=12, completion_tokens=5)
ANSWER = b'{"choices": [{"message": {"content": "sealed answer"}}]}'


def worker_identity(
    model: str = MODEL, *, keyring: Keyring | None = None, quoted: bool = True
) -> NodeIdentity:
    """A worker's identity whose statement names ``model`` and (with ``keyring``) its e2e key."""
    identity = NodeIdentity(
        Ed25519PrivateKey.generate(),
        FakeQuoteProvider() if quoted else None,
        os.urandom,
        claims=make_statement(0, model_id=model),
        keyring=keyring,
    )
    identity.issue(time.time())
    return identity


@dataclass
class Behaviour:
    """How a fake worker answers (default: honestly)."""

    refuse: str = ""
    """Answer this plaintext error code before any frame (``e2e_key_unknown``...)."""
    receipt: bool = True
    """False: end without a receipt."""
    signer: Ed25519PrivateKey | None = None
    """Sign receipts with this key instead of the certificate key."""
    receipt_fields: dict[str, object] = field(default_factory=dict)
    """Fields of the signed receipt replaced after the honest values are filled in."""
    reported_usage: Usage | None = None
    """The usage put in `AnswerEnd` (default: what the receipt signs)."""
    fail_after_first_frame: bool = False
    """Send the head frame and one data frame, then an `AnswerError` with usage and a partial receipt."""


class FakeE2EWorker:
    """An attested worker connection serving end-to-end requests with the real e2e code."""

    def __init__(
        self,
        name: str,
        *,
        model: str = MODEL,
        coefficient: int = 1000,
        max_active: int = 4,
        endpoints: tuple[str, ...] = (CHAT,),
        e2e: bool = True,
    ) -> None:
        self.name = name
        self.model = model
        self.coefficient = coefficient
        self.max_active = max_active
        self.endpoints = endpoints
        self.keyring = Keyring(os.urandom) if e2e else None
        self.identity = worker_identity(model, keyring=self.keyring)
        self.replay = ReplayCache(keep_s=2 * ISSUE_WINDOW_S)
        self.behaviour = Behaviour()
        self.calls: list[RunQuery] = []
        self.conn: RpcConnection | None = None

    @property
    def worker_id(self) -> str:
        return self.identity.public_key.hex()[:16]

    def key(self) -> tuple[bytes, bytes]:
        """(key id, HPKE public key) of the current end-to-end key."""
        assert self.keyring is not None and self.keyring.current is not None
        return self.keyring.current.key_id, self.keyring.current.public_key

    def state(self, certificate: bytes | None = None, **changes: object) -> WorkerState:
        state = WorkerState(
            enabled=True,
            model=self.model,
            coefficient=self.coefficient,
            max_active=self.max_active,
            active=0,
            endpoints=self.endpoints,
            certificate=self.identity.certificate.der if certificate is None else certificate,
        )
        return msgspec.structs.replace(state, **changes) if changes else state

    async def connect(self, proxy: ProxyService) -> None:
        stream = await connect_attested(
            "127.0.0.1", proxy.worker_listener.port, self.identity, make_policy("fake")
        )
        config = EndpointConfig(Role.WORKER, self.worker_id, accept_roles=frozenset({Role.PROXY}))
        handlers = Handlers(on_run_query=self.serve)
        self.conn = await RpcConnection.open(stream, config, initiator=True, handlers=handlers)
        await self.conn.send_worker_state(self.state())

    async def send_state(self, state: WorkerState) -> None:
        assert self.conn is not None
        await self.conn.send_worker_state(state)

    async def serve(self, request: RunQuery, responder: Responder) -> None:
        self.calls.append(request)
        behaviour = self.behaviour
        if behaviour.refuse:
            await responder.error(503, behaviour.refuse, f"worker {self.worker_id}: refused")
            return
        assert request.e2e is not None and self.keyring is not None
        header = read_header(request.e2e)
        routing = Routing(
            request.client_request_id,
            request.model,
            request.path,
            request.max_tokens,
            header.n,
            request.max_coefficient,
        )
        try:
            opened = open_request(request.e2e, routing, self.keyring, self.replay, time.time())
        except E2EError as exc:
            status = 503 if exc.code == E2E_KEY_UNKNOWN else 400
            await responder.error(status, exc.code, f"worker {self.worker_id}: {exc.message}")
            return
        rn = os.urandom(32)
        sealer = Sealer(opened.secret, rn)
        await responder.head(200, (), e2e_nonce=rn)
        await responder.chunk(sealer.head(200, "application/json"))
        body = json.loads(opened.body)
        for frame in sealer.data(ANSWER + json.dumps(body["messages"]).encode()):
            await responder.chunk(frame)
        if behaviour.fail_after_first_frame:
            for frame in sealer.error(b'{"error": {"message": "the engine failed"}}'):
                await responder.chunk(frame)
            receipt = self._receipt(request, opened.key_id, opened.secret.h, sealer, USAGE)
            await responder.error(
                502, "upstream_error", "the engine failed", behaviour.reported_usage or USAGE, receipt=receipt
            )
            return
        await responder.chunk(sealer.final())
        receipt = self._receipt(request, opened.key_id, opened.secret.h, sealer, USAGE)
        await responder.end(behaviour.reported_usage or USAGE, receipt=receipt)

    def _receipt(
        self, request: RunQuery, key_id: bytes, h: bytes, sealer: Sealer, usage: Usage
    ) -> bytes | None:
        behaviour = self.behaviour
        if not behaviour.receipt:
            return None
        assert request.e2e is not None and request.coefficient is not None
        receipt = E2EReceipt(
            version=2,
            request_id=request.client_request_id,
            hop_request_id=request.request_id,
            model_id=request.model,
            key_id=key_id,
            header_sha256=h,
            envelope_sha256=request.e2e.sha256(),
            frames_sha256=sealer.log.digest(),
            frame_count=sealer.log.count,
            final=sealer.log.final,
            max_tokens=request.max_tokens,
            n=read_header(request.e2e).n,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            coefficient=request.coefficient,
            issued_at=int(time.time()),
        )
        if behaviour.receipt_fields:
            receipt = msgspec.structs.replace(receipt, **behaviour.receipt_fields)
        key = behaviour.signer or self.identity.private_key
        return sign_e2e_receipt(receipt, key).encode()

    async def aclose(self) -> None:
        if self.conn is not None:
            await self.conn.aclose("test over")


@dataclass
class Answer:
    parts: list[AnswerPart]
    opened: list[tuple[FrameType, bytes]]
    """The frames the client opened, in order."""

    @property
    def final(self) -> AnswerPart:
        return self.parts[-1]

    @property
    def error(self) -> AnswerError:
        assert isinstance(self.parts[-1], AnswerError), self.parts[-1]
        return self.parts[-1]

    @property
    def end(self) -> AnswerEnd:
        assert isinstance(self.parts[-1], AnswerEnd), self.parts[-1]
        return self.parts[-1]


class E2EClient:
    """A raw client connection that seals its requests as a client daemon would."""

    def __init__(self, conn: RpcConnection, client_id: str) -> None:
        self.conn = conn
        self.client_id = client_id
        self._next = 0

    def seal(
        self,
        keys: Sequence[tuple[bytes, bytes]],
        *,
        max_tokens: int = 64,
        max_coefficient: int = 4000,
        n: int = 1,
        model: str = MODEL,
    ) -> SealedRequest:
        self._next += 1
        body = json.dumps(
            {"model": model, "messages": [{"role": "user", "content": "secret prompt"}], "n": n}
        ).encode()
        routing = Routing(f"{self._next:016x}", model, CHAT, max_tokens, n, max_coefficient)
        return seal_request(body, routing, keys, issued_at=int(time.time()), random_bytes=os.urandom)

    def run_query(self, sealed: SealedRequest, **changes: object) -> RunQuery:
        """The `RunQuery` carrying ``sealed`` with routing fields equal to its header (unless changed)."""
        header = sealed.header
        query = RunQuery(
            request_id=self.conn.new_request_id(),
            model=header.model,
            body=b"",
            max_coefficient=header.max_coefficient,
            max_tokens=header.max_tokens,
            timeout_ms=20_000,
            path=header.endpoint,
            client_request_id=header.client_request_id,
            e2e=sealed.envelope,
        )
        return msgspec.structs.replace(query, **changes) if changes else query

    async def ask(self, sealed: SealedRequest, **changes: object) -> Answer:
        return await self.send(self.run_query(sealed, **changes), sealed)

    async def send(self, query: RunQuery, sealed: SealedRequest | None = None) -> Answer:
        async with asyncio.timeout(20), await self.conn.run_query(query) as stream:
            parts = [part async for part in stream]
        opened: list[tuple[FrameType, bytes]] = []
        if sealed is not None and parts and isinstance(parts[0], AnswerHead) and parts[0].e2e_nonce:
            opener = FrameOpener(sealed.secret, parts[0].e2e_nonce)
            for part in parts:
                if isinstance(part, AnswerChunk):
                    frame = opener.open(part.data)
                    opened.append((frame.kind, frame.payload))
        return Answer(parts, opened)


def bad_envelope(envelope: Envelope) -> Envelope:
    return msgspec.structs.replace(envelope, header=b"\x93not a header")


@dataclass
class E2ENet:
    proxy: ProxyService
    workers: list[FakeE2EWorker]
    client: E2EClient

    def link(self, worker: FakeE2EWorker) -> WorkerLink:
        return self.proxy.workers.links[worker.worker_id]

    def charged_nano(self) -> int:
        return self.proxy.ledger.client(self.client.client_id).charged_nano

    async def add(self, worker: FakeE2EWorker) -> None:
        await worker.connect(self.proxy)
        self.workers.append(worker)
        await wait_until(
            lambda: (
                (link := self.proxy.workers.links.get(worker.worker_id)) is not None
                and link.state is not None
                and (worker.keyring is None or bool(link.e2e_key_ids))
            ),
            what=f"worker {worker.name} registered",
        )


@asynccontextmanager
async def e2e_net(tmp_path: Path, workers: Sequence[FakeE2EWorker]) -> AsyncIterator[E2ENet]:
    """A proxy (the fake worker policy as `build_proxy` wraps it), ``workers`` connected and
    registered with their keys, and one client connection."""
    ledger = Ledger(tmp_path / "state.db")
    proxy = ProxyService(
        ProxyConfig(worker_port=0, client_port=0, local_client_credit_nano=Nano(10**12), queue_timeout_s=0.2),
        make_identity("", "fake"),
        WorkerAdmission(make_policy("fake"), ConfigAllowlist(())),
        make_policy("any"),
        ledger,
    )
    await proxy.start()
    conn: RpcConnection | None = None
    net: E2ENet | None = None
    try:
        client_identity = make_identity("", "fake")
        stream = await connect_attested(
            "127.0.0.1", proxy.client_listener.port, client_identity, make_policy("fake")
        )
        config = EndpointConfig(Role.CLIENT, "test-client", accept_roles=frozenset({Role.PROXY}))
        conn = await RpcConnection.open(stream, config, initiator=True)
        net = E2ENet(proxy, [], E2EClient(conn, client_identity.public_key.hex()))
        for worker in workers:
            await net.add(worker)
        yield net
    finally:
        if net is not None:
            for worker in net.workers:
                with contextlib.suppress(Exception):
                    await worker.aclose()
        if conn is not None:
            await conn.aclose("test over")
        await proxy.aclose()
        ledger.close()
