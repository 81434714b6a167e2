"""`RequestServer` serving end-to-end encrypted queries (`cocoon-e2e/1`) into a recording sink.

The worker is real where it matters: its identity has a keyring, its statement publishes the key
(read back from the certificate, as a client would), envelopes are sealed with the client's
`seal_request` and answers opened with `FrameOpener`. What the proxy would see is the sink: the
plaintext head, the frames (opaque) and the plaintext end; the tests look for a canary from the
prompt in all of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from worker_fakes import Sink, query

from cocoon.api.validation import Limits
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.receipt_e2e import E2EExpectation, E2EReceipt, FramesSeen, SignedE2EReceipt
from cocoon.attestation.statement import verify_statement
from cocoon.clock import FakeClock
from cocoon.e2e.envelope import Envelope, Routing, SealedRequest, seal_request
from cocoon.e2e.frames import FrameLog, FrameOpener, FrameType, OpenedFrame
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.suite import HpkeKeyPair
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.protocol import Engine
from cocoon.node.identity import make_identity
from cocoon.roles import WorkerConfig
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.headers import WORKER_STATEMENT
from cocoon.wire.messages import RunQuery
from cocoon.worker.attest import attest_worker
from cocoon.worker.serve import RequestServer
from inprocess import RecordedEngine

WALL = 1_750_000_000.0
CANARY = "canary-5d1e9b"
WORDS = f"one {CANARY} three four"  # the fake engine echoes these words: the canary is in the answer


@dataclass
class E2ESink(Sink):
    """A `Sink` that also records the head's ``e2e_nonce`` and an error's receipt."""

    e2e_nonce: bytes = b""

    async def head(
        self, status: int, headers: tuple[tuple[str, str], ...] = (), *, e2e_nonce: bytes = b""
    ) -> bool:
        self.e2e_nonce = e2e_nonce
        return await super().head(status, headers)

    async def error(
        self,
        status: int,
        code: str,
        message: str,
        usage: Usage | None = None,
        *,
        param: str | None = None,
        receipt: bytes | None = None,
    ) -> bool:
        await super().error(status, code, message, usage, param=param)
        assert self.final is not None
        self.final.receipt = receipt
        return True

    def plaintext(self) -> str:
        """Everything the proxy reads in clear: head status and headers, the end (frames are opaque)."""
        assert self.final is not None
        return repr((self.head_status, self.headers, self.final))


@dataclass
class Worker:
    server: RequestServer
    engine: Engine
    identity: NodeIdentity
    clock: FakeClock

    def key(self) -> tuple[bytes, bytes]:
        """The (key id, public key) its current certificate's statement publishes."""
        statement = verify_statement(self.identity.certificate.statement, self.identity.public_key)
        return statement.e2e_key_id, statement.e2e_kem_pk


def e2e_worker(engine: Engine | None = None, **config: Any) -> Worker:
    clock = FakeClock(wall=WALL)
    identity = make_identity("", "fake", clock=clock, keyring=Keyring(os.urandom))
    signer = attest_worker(identity, WorkerConfig(coefficient=1000), FAKE_MODEL, clock)
    engine = engine or MemoryEngine(FakeEngineConfig(**config), clock=clock)
    server = RequestServer(engine, FAKE_MODEL, Limits(), "w1", signer, clock=clock)
    return Worker(server, engine, identity, clock)


def seal(
    plain: RunQuery,
    keys: list[tuple[bytes, bytes]],
    *,
    issued_at: float = WALL,
    n: int = 1,
    header_model: str | None = None,
) -> tuple[RunQuery, SealedRequest]:
    """``plain`` as the client sends it end to end: the body sealed, the routing fields in the header."""
    routing = Routing(
        plain.client_request_id,
        header_model or plain.model,
        plain.path,
        plain.max_tokens,
        n,
        plain.max_coefficient,
    )
    sealed = seal_request(plain.body, routing, keys, issued_at=int(issued_at), random_bytes=os.urandom)
    request = msgspec.structs.replace(plain, body=b"", e2e=sealed.envelope, model=routing.model)
    return request, sealed


def open_frames(sink: E2ESink, sealed: SealedRequest) -> tuple[FrameOpener, list[OpenedFrame]]:
    opener = FrameOpener(sealed.secret, sink.e2e_nonce)
    return opener, [opener.open(chunk) for chunk in sink.chunks]


def relayed(sink: Sink) -> FramesSeen:
    """The frames as the proxy hashes them while relaying, without opening them."""
    log = FrameLog()
    for chunk in sink.chunks:
        log.add(chunk)
    return FramesSeen(log.digest(), log.count, log.final)


def check_receipt(
    worker: Worker, request: RunQuery, sealed: SealedRequest, sink: E2ESink, usage: Usage
) -> E2EReceipt:
    """The receipt checked as the proxy checks it (its request id, the frames it relayed)."""
    assert sink.final is not None and sink.final.receipt is not None and request.e2e is not None
    expected = E2EExpectation(
        request.client_request_id,
        request.model,
        sealed.secret.h,
        request.e2e.sha256(),
        request.max_tokens,
        sealed.header.n,
        hop_request_id=request.request_id,
    )
    signed = SignedE2EReceipt.decode(sink.final.receipt)
    return signed.check(worker.identity.public_key, expected, relayed(sink), usage)


async def serve(worker: Worker, request: RunQuery) -> E2ESink:
    sink = E2ESink()
    await worker.server.serve(request, sink, max_active=4)
    return sink


# --- a sealed answer is the plaintext answer, framed ----------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_a_sealed_request_is_answered_in_frames_that_open_to_the_plaintext_answer(stream: bool) -> None:
    plain_worker, worker = e2e_worker(), e2e_worker()
    plain = query(stream=stream, words=WORDS)
    plain_sink = await serve(plain_worker, plain)
    assert (
        CANARY in plain_sink.body.decode()
    )  # the canary is in the answer: finding none below means something

    request, sealed = seal(plain, [worker.key()])
    sink = await serve(worker, request)

    # the plaintext: the status class, the statement header only (no content type), rn, usage, receipt
    assert sink.head_status == 200 and len(sink.e2e_nonce) == 32
    assert [name for name, _ in sink.headers] == [WORKER_STATEMENT]
    assert sink.final is not None and sink.final.kind == "end"
    assert plain_sink.final is not None and sink.final.usage == plain_sink.final.usage
    assert CANARY not in sink.plaintext() and CANARY.encode() not in sink.body

    opener, frames = open_frames(sink, sealed)
    kinds = [frame.kind for frame in frames]
    assert kinds[0] is FrameType.HEAD and kinds[-1] is FrameType.FINAL
    assert set(kinds[1:-1]) == {FrameType.DATA}
    assert len(kinds) - 2 == len(plain_sink.chunks)  # one data frame per engine read
    assert (opener.status, opener.content_type) == (
        200,
        "text/event-stream" if stream else "application/json",
    )
    assert b"".join(frame.payload for frame in frames[1:-1]) == plain_sink.body

    # the engine was asked exactly what the plaintext path asks (the same rewrites)
    assert isinstance(worker.engine, MemoryEngine) and isinstance(plain_worker.engine, MemoryEngine)
    assert worker.engine.calls == plain_worker.engine.calls

    assert sink.final.usage is not None
    receipt = check_receipt(worker, request, sealed, sink, sink.final.usage)
    assert relayed(sink) == FramesSeen(opener.log.digest(), opener.log.count, opener.log.final)
    assert (receipt.key_id, receipt.final, receipt.coefficient) == (worker.key()[0], True, 1000)
    assert receipt.issued_at == int(WALL) and receipt.completion_tokens == 8
    # tagged under the answer's keys: the client's opener makes the same tag over the signed receipt
    signed = SignedE2EReceipt.decode(sink.final.receipt or b"")
    assert len(signed.tag) == 32 and signed.tag == opener.receipt_tag(signed.tagged_bytes())
    counters = worker.server.counters
    assert (counters.served, counters.e2e_served, counters.rejected, counters.e2e_refused) == (1, 1, 0, {})


async def test_a_receipt_does_not_check_against_frames_other_than_those_sent() -> None:
    worker = e2e_worker()
    request, sealed = seal(query(words=WORDS), [worker.key()])
    sink = await serve(worker, request)
    assert sink.final is not None and sink.final.usage is not None
    check_receipt(worker, request, sealed, sink, sink.final.usage)
    sink.chunks.pop(-2)  # a proxy that dropped a frame
    with pytest.raises(Exception, match="frames_sha256"):
        check_receipt(worker, request, sealed, sink, sink.final.usage)


# --- envelopes refused before anything is opened or asked -----------------------------------------


def _other_key() -> tuple[bytes, bytes]:
    pair = HpkeKeyPair.generate(os.urandom, int(WALL) + 7200)
    return pair.key_id, pair.public_key


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _tamper_ciphertext(request: RunQuery) -> RunQuery:
    assert request.e2e is not None
    envelope = Envelope(request.e2e.header, request.e2e.wraps, _flip_last(request.e2e.ciphertext))
    return msgspec.structs.replace(request, e2e=envelope)


def _tamper_wrap(request: RunQuery) -> RunQuery:
    assert request.e2e is not None
    wraps = (_flip_last(request.e2e.wraps[0]),)
    return msgspec.structs.replace(request, e2e=Envelope(request.e2e.header, wraps, request.e2e.ciphertext))


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unknown key", 503, "e2e_key_unknown"),
        ("proxy raised max_coefficient", 400, "e2e_header_mismatch"),
        ("proxy changed max_tokens", 400, "e2e_header_mismatch"),
        ("proxy changed the path", 400, "e2e_header_mismatch"),
        ("proxy changed client_request_id", 400, "e2e_header_mismatch"),
        ("sealed too long ago", 400, "e2e_stale"),
        ("sealed in the future", 400, "e2e_stale"),
        ("ciphertext altered", 400, "e2e_open_failed"),
        ("wrap altered", 400, "e2e_open_failed"),
        ("body names another model", 400, "e2e_header_mismatch"),
        ("body asks for more choices", 400, "e2e_header_mismatch"),
    ],
)
async def test_a_bad_envelope_is_refused_with_its_code_and_nothing_reaches_the_engine(
    case: str, status: int, code: str
) -> None:
    worker = e2e_worker()
    plain = query(words=WORDS)
    keys = [_other_key()] if case == "unknown key" else [worker.key()]
    issued_at = {"sealed too long ago": WALL - 121, "sealed in the future": WALL + 121}.get(case, WALL)
    if case == "body names another model":
        request, _ = seal(query(words=WORDS, model="other-model"), keys, header_model=FAKE_MODEL)
    elif case == "body asks for more choices":
        request, _ = seal(query(words=WORDS, n=2), keys, n=1)  # the header says one choice
    else:
        request, _ = seal(plain, keys, issued_at=issued_at)
    altered = {
        "proxy raised max_coefficient": {"max_coefficient": request.max_coefficient + 1},
        "proxy changed max_tokens": {"max_tokens": request.max_tokens * 2},
        "proxy changed the path": {"path": "/v1/completions"},
        "proxy changed client_request_id": {"client_request_id": "00000000000000bb"},
    }.get(case, {})
    request = msgspec.structs.replace(request, **altered)
    if case == "ciphertext altered":
        request = _tamper_ciphertext(request)
    if case == "wrap altered":
        request = _tamper_wrap(request)

    sink = await serve(worker, request)
    assert not sink.head_sent and sink.chunks == []
    assert sink.final is not None and (sink.final.kind, sink.final.status, sink.final.code) == (
        "error",
        status,
        code,
    )
    assert sink.final.message.startswith("worker w1: ") and CANARY not in sink.final.message
    assert sink.final.receipt is None
    assert isinstance(worker.engine, MemoryEngine) and worker.engine.calls == []
    counters = worker.server.counters
    assert (counters.rejected, counters.e2e_refused, counters.e2e_served, worker.server.active) == (
        1,
        {code: 1},
        0,
        0,
    )


async def test_an_envelope_is_served_once() -> None:
    worker = e2e_worker()
    request, _ = seal(query(words=WORDS), [worker.key()])
    first = await serve(worker, request)
    assert first.final is not None and first.final.kind == "end"
    again = await serve(worker, request)  # a proxy replaying what it relayed
    assert again.final is not None and (again.final.status, again.final.code) == (400, "e2e_replay")
    assert isinstance(worker.engine, MemoryEngine) and len(worker.engine.calls) == 1
    assert worker.server.counters.e2e_refused == {"e2e_replay": 1}


async def test_a_worker_without_keys_refuses_as_not_holding_the_key() -> None:
    worker = e2e_worker()
    request, _ = seal(query(), [worker.key()])
    keyless = RequestServer(worker.engine, FAKE_MODEL, Limits(), "w1")  # no signer: no keyring
    sink = E2ESink()
    await keyless.serve(request, sink, max_active=4)
    assert sink.final is not None and (sink.final.status, sink.final.code) == (503, "e2e_key_unknown")


# --- the request's own errors: sealed, never in plaintext ------------------------------------------


def _error_answer(sink: E2ESink, sealed: SealedRequest) -> tuple[int, dict[str, Any]]:
    """The status and the error body of a sealed error answer (head, error, final frames)."""
    opener, frames = open_frames(sink, sealed)
    assert [frame.kind for frame in frames] == [FrameType.HEAD, FrameType.ERROR, FrameType.FINAL]
    assert opener.content_type == "application/json"
    return opener.status, json.loads(frames[1].payload)


def _duplicate_key_body() -> bytes:
    """A body whose validation error names a key of the prompt (the canary)."""
    return (
        f'{{"model": "{FAKE_MODEL}", "max_tokens": 16, "messages": '
        f'[{{"role": "user", "content": "hi", "{CANARY}": 1, "{CANARY}": 2}}]}}'
    ).encode()


async def test_a_body_that_does_not_validate_is_a_sealed_error_answer_charged_nothing() -> None:
    worker = e2e_worker()
    plain = msgspec.structs.replace(query(), body=_duplicate_key_body())
    plain_sink = await serve(e2e_worker(), plain)
    assert plain_sink.final is not None and CANARY in plain_sink.final.message  # it would leak in clear

    request, sealed = seal(plain, [worker.key()])
    sink = await serve(worker, request)
    assert sink.head_status == 400 and CANARY not in sink.plaintext() and CANARY.encode() not in sink.body
    status, body = _error_answer(sink, sealed)
    assert status == 400 and CANARY in body["error"]["message"]
    assert body["error"]["code"] == plain_sink.final.code == "invalid_request_error"
    assert sink.final is not None and (sink.final.kind, sink.final.usage) == ("end", NO_USAGE)
    receipt = check_receipt(worker, request, sealed, sink, NO_USAGE)
    assert receipt.final and receipt.frame_count == 3
    assert isinstance(worker.engine, MemoryEngine) and worker.engine.calls == []
    assert (worker.server.counters.rejected, worker.server.counters.e2e_served) == (1, 0)


async def test_a_budget_too_small_for_the_choices_is_a_sealed_error_answer() -> None:
    worker = e2e_worker()
    request, sealed = seal(query(words=WORDS, cap=3, n=4), [worker.key()], n=4)
    sink = await serve(worker, request)
    status, body = _error_answer(sink, sealed)
    assert status == 400 and "too few for the 4 choices" in body["error"]["message"]
    assert body["error"]["param"] == "n"
    check_receipt(worker, request, sealed, sink, NO_USAGE)


@pytest.mark.parametrize("stream", [True, False])
async def test_an_engine_refusal_is_sealed_with_its_status_and_body(stream: bool) -> None:
    refusal = {
        "error": {
            "message": f"context too long: {CANARY}",
            "type": "BadRequestError",
            "param": "messages",
            "code": 400,
        }
    }
    worker = e2e_worker(RecordedEngine(400, refusal))
    request, sealed = seal(query(stream=stream, words=WORDS), [worker.key()])
    sink = await serve(worker, request)
    assert sink.head_status == 400 and [name for name, _ in sink.headers] == [WORKER_STATEMENT]
    assert CANARY not in sink.plaintext() and CANARY.encode() not in sink.body
    assert _error_answer(sink, sealed) == (400, refusal)
    assert sink.final is not None and (sink.final.kind, sink.final.usage) == ("end", NO_USAGE)
    check_receipt(worker, request, sealed, sink, NO_USAGE)
    assert worker.server.counters.by_engine_class == {"request-error": 1}


async def test_a_parameter_the_engine_cannot_serve_is_a_sealed_400_naming_it() -> None:
    engine_error = {
        "error": {"message": f"logprobs is not supported ({CANARY})", "type": "internal_server_error"}
    }
    worker = e2e_worker(RecordedEngine(500, engine_error))
    request, sealed = seal(query(words=WORDS, logprobs=True, top_logprobs=2), [worker.key()])
    sink = await serve(worker, request)
    assert sink.head_status == 400 and CANARY not in sink.plaintext()
    status, body = _error_answer(sink, sealed)
    assert status == 400 and (body["error"]["code"], body["error"]["param"]) == (
        "unsupported_parameter",
        "logprobs",
    )
    assert CANARY in body["error"]["message"] and "worker w1" in body["error"]["message"]
    check_receipt(worker, request, sealed, sink, NO_USAGE)


# --- engine failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_an_engine_failure_before_any_frame_is_a_plaintext_502_without_the_engines_words(
    stream: bool,
) -> None:
    failure = {"error": {"message": f"llama_decode returned -3 on {CANARY}", "type": "internal_server_error"}}
    worker = e2e_worker(RecordedEngine(500, failure))
    request, _ = seal(query(stream=stream, words=WORDS), [worker.key()])
    sink = await serve(worker, request)
    assert not sink.head_sent and sink.chunks == []
    assert sink.final is not None and (sink.final.status, sink.final.code) == (502, "upstream_error")
    assert sink.final.message == "worker w1: the engine failed (status 500)"
    assert sink.final.receipt is None and worker.server.counters.failed == 1


async def test_an_engine_that_times_out_before_answering_says_so_without_its_words() -> None:
    worker = e2e_worker(fail_status=None, first_delay_ms=10_000)
    request, _ = seal(query(stream=False, words=WORDS, timeout_ms=100), [worker.key()])
    sink = await serve(worker, request)
    assert sink.final is not None and (sink.final.status, sink.final.code) == (502, "upstream_error")
    assert sink.final.message == "worker w1: the engine failed (timed out)"


async def test_an_engine_that_breaks_mid_stream_ends_with_a_sealed_error_and_a_partial_receipt() -> None:
    worker = e2e_worker(drop_after=2)
    request, sealed = seal(query(words=WORDS), [worker.key()])
    sink = await serve(worker, request)
    opener, frames = open_frames(sink, sealed)
    kinds = [frame.kind for frame in frames]
    assert kinds == [FrameType.HEAD, FrameType.DATA, FrameType.DATA, FrameType.DATA, FrameType.ERROR]
    assert not opener.finished  # no final frame: the client never takes it for a whole answer
    assert b"one " in frames[2].payload and CANARY.encode() in frames[3].payload
    error = json.loads(frames[4].payload)["error"]
    assert error["code"] == "upstream_error" and "broke the stream mid-answer" in error["message"]

    assert sink.final is not None and (sink.final.kind, sink.final.status, sink.final.code) == (
        "error",
        502,
        "upstream_error",
    )
    assert sink.final.message == "worker w1: the engine failed (no answer or a broken one)"
    assert CANARY not in sink.plaintext()
    assert sink.final.usage is not None
    receipt = check_receipt(worker, request, sealed, sink, sink.final.usage)
    assert not receipt.final and receipt.frame_count == 5
    assert worker.server.counters.e2e_served == 0


# --- keys across a re-issue -------------------------------------------------------------------------


async def test_the_previous_key_still_opens_after_one_rotation_but_not_after_two() -> None:
    worker = e2e_worker()
    first = worker.key()
    worker.clock.advance(3600)
    worker.identity.issue(worker.clock.time())  # the hourly re-issue: a new current key
    assert worker.key() != first

    request, sealed = seal(query(words=WORDS), [first], issued_at=worker.clock.time())
    sink = await serve(worker, request)
    assert sink.final is not None and sink.final.kind == "end"
    assert check_receipt(worker, request, sealed, sink, sink.final.usage or NO_USAGE).key_id == first[0]

    worker.clock.advance(3600)
    worker.identity.issue(worker.clock.time())
    request, _ = seal(query(words=WORDS), [first], issued_at=worker.clock.time())
    late = await serve(worker, request)
    assert late.final is not None and (late.final.status, late.final.code) == (503, "e2e_key_unknown")


async def test_an_envelope_listing_several_keys_opens_with_the_workers_own() -> None:
    worker = e2e_worker()
    request, sealed = seal(query(words=WORDS), [_other_key(), worker.key(), _other_key()])
    sink = await serve(worker, request)
    assert sink.final is not None and sink.final.kind == "end"
    assert (
        check_receipt(worker, request, sealed, sink, sink.final.usage or NO_USAGE).key_id == worker.key()[0]
    )
