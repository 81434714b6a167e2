"""`RequestServer` serving one query against the in-memory engine, into a recording `Sink`.

No process, no socket: `MemoryEngine` answers exactly like the fake HTTP engine (same bytes, same
errors), and the `Sink` records what would go to the proxy. Where timing matters the test waits on
the chunk that arrives (`Sink.arrived`), never on a sleep.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from worker_fakes import Sink, query

from cocoon.api.validation import Limits
from cocoon.attestation.receipt import SignedReceipt
from cocoon.clock import FakeClock
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.node.identity import make_identity
from cocoon.usage import Usage
from cocoon.wire.sse import DONE_EVENT
from cocoon.worker.attest import ReceiptSigner
from cocoon.worker.serve import RequestServer
from inprocess import RecordedEngine

PROMPT_TOKENS = 5  # ceil(len("one two three four") / 4), the fake engine's count
ANSWER = "one two three four one two three four "  # 8 chunks, one word each


def server(signer: ReceiptSigner | None = None, **config: Any) -> tuple[RequestServer, MemoryEngine]:
    engine = MemoryEngine(FakeEngineConfig(**config))
    return RequestServer(engine, FAKE_MODEL, Limits(), "w1", signer), engine


async def serve(request_server: RequestServer, sink: Sink, **fields: Any) -> Sink:
    await request_server.serve(query(**fields), sink, max_active=4)
    return sink


# --- a streamed answer -----------------------------------------------------------------------------


async def test_a_stream_is_relayed_read_by_read_and_metered_from_its_usage() -> None:
    worker, _ = server()
    sink = await serve(worker, Sink())
    assert sink.head_status == 200 and ("content-type", "text/event-stream") in sink.headers
    assert sink.content() == ANSWER and sink.body.endswith(DONE_EVENT)
    assert len(sink.chunks) == 1 + 8 + 1  # the role event, one per word, the closing events
    assert sink.final is not None and sink.final.kind == "end"
    assert sink.final.usage == Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=8)
    assert sink.final.timings is not None and sink.final.timings.first_chunk_us <= sink.final.timings.total_us
    counters = worker.counters
    assert (counters.served, counters.prompt_tokens, counters.completion_tokens) == (1, PROMPT_TOKENS, 8)
    assert worker.active == 0


async def test_chunks_go_out_while_the_engine_still_generates_and_a_cancel_aborts_it() -> None:
    worker, engine = server(hang_after=2)  # sends the role event and two words, then stalls
    sink = Sink()
    task = asyncio.ensure_future(worker.serve(query(), sink, max_active=4))
    relayed = [await sink.arrived.get() for _ in range(3)]
    assert b"one " in relayed[1] and b"two " in relayed[2]
    assert not sink.finished and worker.active == 1 and engine.aborted == 0
    sink.mark_cancelled("the client went away")  # what the connection does on a Cancel ...
    task.cancel()  # ... before it cancels the handler task
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.aborted == 1 and engine.completed == 0
    assert (worker.counters.cancelled, worker.counters.served, worker.active) == (1, 0, 0)
    assert sink.final is None  # the connection reports the cancel, not the handler


async def test_a_requester_that_already_cancelled_stops_the_relay_and_the_engine() -> None:
    worker, engine = server()
    sink = await serve(worker, Sink(accept=2))
    assert len(sink.chunks) == 2 and sink.final is None
    assert engine.aborted == 1 and worker.counters.served == 0


@pytest.mark.parametrize(("cap", "expected"), [(3, 3), (16, 16), (32, 16)])
async def test_generation_is_capped_at_what_the_proxy_reserved_and_usage_always_asked(
    cap: int, expected: int
) -> None:
    worker, engine = server(chunks=40)
    sink = await serve(worker, Sink(), max_tokens=16, cap=cap)
    [(path, body)] = engine.calls
    assert path == "/v1/chat/completions" and body["max_tokens"] == expected
    assert body["stream_options"] == {"include_usage": True}  # the caller did not ask; metering needs it
    assert sink.final is not None and sink.final.usage is not None
    assert sink.final.usage.completion_tokens == expected


@pytest.mark.parametrize(
    ("n", "budget", "per_choice"),
    [
        (4, 4 * 16, 16),  # what an honest client sends: max_tokens 16 for each of 4 choices
        (4, 16, 4),  # a budget for one choice of 16: four choices of 4 tokens, never 64 tokens
        (4, 30, 7),  # floor(30 / 4): 28 tokens at most, within the 30 reserved
        (100, 16 * 100, 16),
    ],
)
async def test_every_choice_fits_the_budget_the_proxy_reserved(n: int, budget: int, per_choice: int) -> None:
    worker, engine = server(chunks=40)
    sink = await serve(worker, Sink(), max_tokens=16, cap=budget, n=n)
    [(_, body)] = engine.calls
    assert body["max_tokens"] == per_choice and body["n"] == n
    assert sink.final is not None and sink.final.usage is not None
    assert sink.final.usage.completion_tokens == n * per_choice <= budget


@pytest.mark.parametrize("budget", [0, 3])
async def test_a_budget_too_small_for_every_choice_is_refused_before_the_engine(budget: int) -> None:
    # 0 once meant "no cap" here: a request the proxy reserved nothing for must not generate at all.
    worker, engine = server()
    sink = await serve(worker, Sink(), cap=budget, n=4)
    assert engine.calls == [] and not sink.head_sent
    assert sink.final is not None and (sink.final.status, sink.final.code) == (400, "invalid_request_error")
    assert "too few for the 4 choices" in sink.final.message
    assert worker.counters.rejected == 1


# --- engine failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_an_engine_that_fails_before_answering_is_an_upstream_error(stream: bool) -> None:
    worker, _ = server(fail_status=500)
    sink = await serve(worker, Sink(), stream=stream)
    assert not sink.head_sent
    assert sink.final is not None and (sink.final.status, sink.final.code) == (502, "upstream_error")
    assert sink.final.message.startswith("worker w1: ") and "HTTP 500" in sink.final.message
    assert worker.counters.failed == 1


async def test_an_engine_refusal_is_passed_through_with_its_status() -> None:
    worker, _ = server(fail_status=429)
    sink = await serve(worker, Sink())
    assert sink.head_status == 429 and sink.headers == (("content-type", "application/json"),)
    assert json.loads(sink.body)["error"]["message"].startswith("engine at memory://engine answered HTTP 429")
    assert sink.final is not None and sink.final.kind == "end"
    assert worker.counters.failed == 1


LLAMA_LOGPROBS = {
    "error": {
        "message": "logprobs is not supported for models created with logits_all=False",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
}


@pytest.mark.parametrize("stream", [True, False])
async def test_a_parameter_the_engine_cannot_serve_is_a_400_naming_it_not_an_upstream_error(
    stream: bool,
) -> None:
    engine = RecordedEngine(500, LLAMA_LOGPROBS)  # what llama-cpp-python answers to top_logprobs
    worker = RequestServer(engine, FAKE_MODEL, Limits(), "w1")
    sink = await serve(worker, Sink(), stream=stream, logprobs=True, top_logprobs=2)
    assert not sink.head_sent and len(engine.calls) == 1
    assert sink.final is not None and sink.final.kind == "error"
    assert (sink.final.status, sink.final.code, sink.final.param) == (
        400,
        "unsupported_parameter",
        "logprobs",
    )
    assert "worker w1" in sink.final.message
    assert "logprobs is not supported for models created with logits_all=False" in sink.final.message
    assert worker.counters.by_engine_class == {"unsupported": 1} and worker.counters.failed == 1


async def test_a_500_that_blames_a_field_of_the_request_is_a_400_naming_it() -> None:
    message = (
        "1 validation error:\n  {'type': 'float_parsing', 'loc': ('body', 'temperature'), 'msg': 'bad'}"
        '\n\n  File "/srv/llama_cpp/server/app.py", line 376, in create_chat_completion'
    )
    engine = RecordedEngine(500, {"error": {"message": message, "type": "internal_server_error"}})
    worker = RequestServer(engine, FAKE_MODEL, Limits(), "w1")
    sink = await serve(worker, Sink())
    assert sink.final is not None
    assert (sink.final.status, sink.final.code, sink.final.param) == (
        400,
        "invalid_request_error",
        "temperature",
    )
    assert "/srv/llama_cpp" not in sink.final.message  # the engine host's traceback stays there


async def test_an_engine_failure_names_the_worker_and_what_the_engine_said() -> None:
    engine = RecordedEngine(
        500, {"error": {"message": "llama_decode returned -3", "type": "internal_server_error"}}
    )
    worker = RequestServer(engine, FAKE_MODEL, Limits(), "w1")
    sink = await serve(worker, Sink())
    assert sink.final is not None and (sink.final.status, sink.final.code) == (502, "upstream_error")
    assert sink.final.message.startswith("worker w1: ") and "llama_decode returned -3" in sink.final.message
    assert worker.counters.by_engine_class == {"engine-failure": 1}


async def test_an_engine_4xx_keeps_its_own_status_and_body() -> None:
    refusal = {
        "error": {"message": "context too long", "type": "BadRequestError", "param": "messages", "code": 400}
    }
    engine = RecordedEngine(400, refusal)
    worker = RequestServer(engine, FAKE_MODEL, Limits(), "w1")
    sink = await serve(worker, Sink())
    assert sink.head_status == 400 and json.loads(sink.body) == refusal
    assert sink.final is not None and sink.final.kind == "end"
    assert worker.counters.by_engine_class == {"request-error": 1}


async def test_an_engine_that_breaks_mid_stream_is_an_error_after_the_chunks() -> None:
    worker, engine = server(drop_after=2)
    sink = await serve(worker, Sink())
    assert sink.head_status == 200 and sink.content() == "one two "
    assert sink.final is not None and (sink.final.status, sink.final.code) == (502, "upstream_error")
    assert "broke the stream mid-answer" in sink.final.message
    assert engine.dropped == 1 and worker.counters.failed == 1


@pytest.mark.parametrize(("status", "code"), [(400, "invalid_request_error"), (503, "upstream_error")])
async def test_an_error_event_mid_stream_ends_the_answer_charged_what_was_delivered(
    status: int, code: str
) -> None:
    worker, engine = server(error_after=2, error_status=status)
    request = query()
    sink = Sink()
    await worker.serve(request, sink, max_active=4)
    assert sink.head_status == 200 and sink.content() == "one two "
    assert sink.final is not None and (sink.final.kind, sink.final.status, sink.final.code) == (
        "error",
        502 if status >= 500 else status,
        code,
    )
    delivered = Usage(prompt_tokens=-(-len(request.body) // 4), completion_tokens=2)
    assert sink.final.usage == delivered  # no usage chunk came: the two words relayed, the prompt estimate
    counters = worker.counters
    assert (counters.failed, counters.unmetered, counters.completion_tokens) == (1, 1, 2)
    assert worker.active == 0 and engine.aborted == 0


async def test_a_budget_that_runs_out_ends_the_answer_with_a_timeout() -> None:
    worker, engine = server(hang_after=1)
    sink = await serve(worker, Sink(), timeout_ms=100)  # the engine gets 95 ms of it
    assert sink.content() == "one "
    assert sink.final is not None and (sink.final.status, sink.final.code) == (502, "upstream_error")
    assert "did not finish before the deadline" in sink.final.message
    assert engine.aborted == 1 and worker.counters.failed == 1


class _CutEngine(MemoryEngine):
    """An engine whose stream ends after one event, without usage or ``[DONE]``."""

    async def stream(self, path: str, body: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        return _CutStream()


class _CutStream:
    usage = None
    events = 1
    generated = 0  # its one event generated nothing
    done = False
    closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'data: {"choices":[]}\n\n'

    async def aclose(self) -> None:
        self.closed = True


async def test_a_stream_cut_before_done_is_an_error_and_counted_unmetered() -> None:
    worker = RequestServer(_CutEngine(), FAKE_MODEL, Limits(), "w1")
    sink = await serve(worker, Sink())
    assert sink.chunks == [b'data: {"choices":[]}\n\n']
    assert sink.final is not None and (sink.final.status, sink.final.code) == (502, "upstream_error")
    assert sink.final.message == "the engine ended the stream before [DONE]"
    assert (worker.counters.failed, worker.counters.unmetered) == (1, 1)


# --- a whole answer and receipts -------------------------------------------------------------------


async def test_a_whole_answer_is_one_chunk_with_its_usage() -> None:
    worker, _ = server()
    sink = await serve(worker, Sink(), stream=False)
    assert sink.head_status == 200 and ("content-type", "application/json") in sink.headers
    [body] = sink.chunks
    assert json.loads(body)["choices"][0]["message"]["content"] == ANSWER
    assert sink.final is not None and sink.final.usage == Usage(
        prompt_tokens=PROMPT_TOKENS, completion_tokens=8
    )
    assert worker.counters.served == 1


@pytest.mark.parametrize("stream", [True, False])
async def test_the_receipt_covers_the_request_and_exactly_the_bytes_relayed(stream: bool) -> None:
    identity = make_identity("", "fake")
    worker, _ = server(ReceiptSigner(identity, FAKE_MODEL, 1000, clock=FakeClock(wall=1_750_000_000)))
    request = query(stream=stream)
    sink = Sink()
    await worker.serve(request, sink, max_active=4)
    assert sink.final is not None and sink.final.receipt is not None
    receipt = SignedReceipt.decode(sink.final.receipt).verify(identity.public_key)
    assert receipt.response_sha256 == hashlib.sha256(sink.body).digest()
    assert receipt.request_sha256 == hashlib.sha256(request.body).digest()
    assert (receipt.request_id, receipt.model_id, receipt.issued_at) == (
        "00000000000000aa",
        FAKE_MODEL,
        1_750_000_000,
    )
    assert (receipt.prompt_tokens, receipt.completion_tokens) == (PROMPT_TOKENS, 8)


# --- refused before the engine is asked -----------------------------------------------------------


async def test_a_worker_whose_engine_is_down_refuses() -> None:
    worker, engine = server()
    worker.engine_up = False
    sink = await serve(worker, Sink())
    assert sink.final is not None and (sink.final.status, sink.final.code) == (503, "engine_down")
    assert worker.counters.rejected == 1 and engine.calls == []


async def test_a_worker_with_every_slot_busy_refuses() -> None:
    worker, engine = server()
    worker.active = 4
    sink = await serve(worker, Sink())
    assert sink.final is not None and (sink.final.status, sink.final.code) == (503, "no_capacity")
    assert "all 4 slots busy" in sink.final.message and engine.calls == []


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [({"model": "other-model"}, 404, "model_not_found"), ({"max_tokens": -1}, 400, "invalid_request_error")],
)
async def test_a_request_that_does_not_validate_is_refused(
    fields: dict[str, Any], status: int, code: str
) -> None:
    worker, engine = server()
    sink = await serve(worker, Sink(), **fields)
    assert sink.final is not None and (sink.final.status, sink.final.code) == (status, code)
    assert worker.counters.rejected == 1 and engine.calls == [] and worker.active == 0
