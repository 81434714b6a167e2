"""`ClientServing` called directly with a scripted `FakeBackend`: what a caller receives, as values.

Streams are read event by event; where the order in time matters (the usage chunk is held until the
`AnswerEnd`) a `Gate` stops the scripted answer at the point under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from client_answers import (
    BODY,
    CONTENT,
    END,
    MODEL,
    USAGE_EVENT,
    as_stream,
    as_whole,
    chat,
    chunk,
    data_of,
    error,
    events_of,
    head,
    read_all,
)

from cocoon.api.validation import validate_request
from cocoon.client.fake_backend import FAKE_MODEL_ID, FAKE_REPLY, FakeBackend, Gate, Script, model_item
from cocoon.client.serving import MODELS_TTL_S, ClientServing
from cocoon.clock import FakeClock
from cocoon.errors import RequestError
from cocoon.wire.sse import DONE_EVENT

COST = {"prompt_total_cost": 5_000, "completion_total_cost": 2_000, "total_cost": 7_000, "adjusted_tokens": 7}


def serving(*scripts: Script, clock: FakeClock | None = None) -> tuple[ClientServing, FakeBackend]:
    backend = FakeBackend(scripts)
    return ClientServing(backend, clock=clock or FakeClock()), backend


# --- streams: re-framing, the usage chunk, the end ------------------------------------------------


async def test_a_multi_line_event_is_reframed_line_by_line() -> None:
    two_lines = b'data: {"choices":[{"index":0,\ndata: "delta":{"content":"hi"}}]}\n\n'
    api, _ = serving([head(), chunk(two_lines), END])
    raw = b"".join(await read_all(as_stream(await api.serve(chat()))))
    assert raw.startswith(b'data: {"choices":[{"index":0,\ndata: "delta":{"content":"hi"}}]}\n\n')
    assert [e.data for e in events_of(raw)] == [
        '{"choices":[{"index":0,\n"delta":{"content":"hi"}}]}',
        "[DONE]",
    ]


async def test_events_split_across_chunks_are_relayed_once_complete() -> None:
    api, _ = serving([head(), chunk(CONTENT[:10]), chunk(CONTENT[10:] + CONTENT), END])
    pieces = await read_all(as_stream(await api.serve(chat())))
    assert pieces == [CONTENT + CONTENT, DONE_EVENT]  # nothing is sent for the incomplete first piece


@pytest.mark.parametrize("wants_usage", [True, False])
async def test_the_usage_chunk_is_held_until_the_end_and_sent_with_cost_only_if_asked(
    wants_usage: bool,
) -> None:
    gate = Gate()
    api, _ = serving([head(), chunk(CONTENT), chunk(USAGE_EVENT), gate, END])
    stream = as_stream(await api.serve(chat(usage=wants_usage)))
    assert await anext(stream) == CONTENT
    reading = asyncio.ensure_future(anext(stream))
    await gate.reached.wait()  # the usage chunk was delivered and the answer has not ended yet
    assert not reading.done()
    gate.opened.set()
    rest = [await reading, *await read_all(stream)]
    if wants_usage:
        [usage_chunk] = data_of(rest[0])
        assert usage_chunk["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7, **COST}
        assert rest[1:] == [DONE_EVENT]
    else:
        assert rest == [DONE_EVENT]
    assert (api.stats.succeeded, api.stats.spent_nano) == (1, 7_000)


async def test_the_engines_done_is_dropped_and_ours_comes_last() -> None:
    api, _ = serving([head(), chunk(CONTENT + DONE_EVENT), chunk(USAGE_EVENT + DONE_EVENT), END])
    raw = b"".join(await read_all(as_stream(await api.serve(chat(usage=True)))))
    data = data_of(raw)
    assert data.count("[DONE]") == 1 and data[-1] == "[DONE]"
    assert data[-2]["usage"]["total_cost"] == 7_000


async def test_a_late_error_gives_an_error_event_then_done() -> None:
    api, _ = serving([head(), chunk(CONTENT), error(502, "upstream_error", "the worker died")])
    pieces = await read_all(as_stream(await api.serve(chat(usage=True))))
    assert pieces[0] == CONTENT and pieces[-1] == DONE_EVENT
    [failure] = data_of(pieces[1])
    assert failure["error"] == {
        "message": "the worker died",
        "type": "upstream_error",
        "param": None,
        "code": "upstream_error",
    }
    assert (api.stats.failed, api.stats.succeeded) == (1, 0)


async def test_a_stream_that_just_stops_gets_an_upstream_error_then_done() -> None:
    api, _ = serving([head(), chunk(CONTENT)])
    pieces = await read_all(as_stream(await api.serve(chat())))
    assert len(pieces) == 3 and pieces[-1] == DONE_EVENT
    assert data_of(pieces[1])[0]["error"]["code"] == "upstream_error"
    assert api.stats.failed == 1


async def test_stream_headers_name_the_request_and_keep_only_cocoon_headers() -> None:
    # A head that claims end-to-end encryption for a plaintext answer is not believed.
    extra = (("X-Cocoon-Worker", "w1"), ("server", "x"), ("x-cocoon-e2e", "1"))
    api, backend = serving([head(200, "text/event-stream", *extra), END])
    stream = as_stream(await api.serve(chat()))
    assert stream.headers == {
        "X-Cocoon-Worker": "w1",
        "X-Cocoon-Request-Id": f"{backend.requests[0][1]:016x}",
        "X-Cocoon-E2E": "0",
        "X-Cocoon-Protocol": "native",
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
    }
    assert await read_all(stream) == [DONE_EVENT]


# --- the reader goes away --------------------------------------------------------------------------


async def test_closing_the_stream_midway_cancels_the_network_request() -> None:
    api, backend = serving([head(), chunk(CONTENT), chunk(CONTENT), END])
    stream = as_stream(await api.serve(chat()))
    assert await anext(stream) == CONTENT
    await stream.aclose()
    assert backend.cancels == ["the caller disconnected"]
    assert (api.stats.cancelled, api.stats.succeeded) == (1, 0)


async def test_closing_a_stream_never_read_cancels_too() -> None:
    api, backend = serving([head(), chunk(CONTENT), END])
    await as_stream(await api.serve(chat())).aclose()
    assert backend.cancels == ["the caller disconnected"] and api.stats.cancelled == 1


async def test_cancelling_the_reader_while_it_waits_cancels_the_network_request() -> None:
    gate = Gate()
    api, backend = serving([head(), chunk(CONTENT), gate, END])
    stream = as_stream(await api.serve(chat()))
    reader = asyncio.ensure_future(read_all(stream))
    await gate.reached.wait()
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert backend.cancels == ["the caller disconnected"] and api.stats.cancelled == 1


async def test_cancelling_serve_before_the_head_cancels_the_network_request() -> None:
    gate = Gate()
    api, backend = serving([gate, head(), END])
    serving_task = asyncio.ensure_future(api.serve(chat()))
    await gate.reached.wait()
    serving_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serving_task
    assert backend.cancels == ["the caller disconnected"] and api.stats.cancelled == 1


async def test_a_finished_stream_is_not_cancelled_when_closed() -> None:
    api, backend = serving([head(), chunk(CONTENT), END])
    stream = as_stream(await api.serve(chat()))
    await read_all(stream)
    await stream.aclose()
    assert backend.cancels == [] and api.stats.cancelled == 0


async def test_a_reader_that_stops_right_after_done_cancels_nothing() -> None:
    api, backend = serving([head(), chunk(CONTENT), END])
    stream = as_stream(await api.serve(chat()))
    assert [await anext(stream), await anext(stream)] == [CONTENT, DONE_EVENT]
    await stream.aclose()
    assert backend.cancels == [] and (api.stats.cancelled, api.stats.succeeded) == (0, 1)


# --- whole answers ---------------------------------------------------------------------------------


async def test_a_whole_answer_gets_the_cost_fields_in_usage() -> None:
    api, backend = serving([head(200, "application/json", ("x-cocoon-worker", "w1")), chunk(BODY), END])
    answer = as_whole(await api.serve(chat(stream=False)))
    assert answer.status == 200
    assert answer.headers == {
        "x-cocoon-worker": "w1",
        "X-Cocoon-Request-Id": f"{backend.requests[0][1]:016x}",
        "X-Cocoon-E2E": "0",
        "X-Cocoon-Protocol": "native",
        "Content-Type": "application/json",
    }
    doc = json.loads(answer.body)
    assert doc["usage"] == {"total_tokens": 7, **COST}
    assert "receipt" not in doc  # no receipt was signed, so none is shown


async def test_a_streamed_request_answered_with_an_error_status_is_passed_through_whole() -> None:
    refusal = b'{"error":{"message":"too long","type":"invalid_request_error","param":null,"code":null}}'
    api, _ = serving([head(400, "application/json"), chunk(refusal), END])
    answer = as_whole(await api.serve(chat()))
    assert (answer.status, answer.body, answer.headers["Content-Type"]) == (400, refusal, "application/json")


@pytest.mark.parametrize("stream", [True, False])
async def test_an_error_as_first_part_is_an_openai_error_response(stream: bool) -> None:
    api, _ = serving([error(503, "no_capacity", "all workers busy")])
    answer = as_whole(await api.serve(chat(stream=stream)))
    assert answer.status == 503 and answer.headers["Retry-After"] == "1"
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(answer.body)["error"]["code"] == "no_capacity"
    assert api.stats.failed == 1


async def test_an_answer_that_ends_before_its_head_is_an_upstream_error() -> None:
    api, _ = serving([])
    answer = as_whole(await api.serve(chat()))
    assert answer.status == 502 and json.loads(answer.body)["error"]["code"] == "upstream_error"


async def test_a_whole_answer_cut_before_its_end_is_an_upstream_error() -> None:
    api, _ = serving([head(200, "application/json"), chunk(BODY)])
    answer = as_whole(await api.serve(chat(stream=False)))
    assert answer.status == 502 and api.stats.failed == 1


async def test_a_request_the_network_cannot_start_is_its_error() -> None:
    refusal = RequestError("not connected to any proxy", status=502, code="upstream_error")
    api, _ = serving(refusal)
    answer = as_whole(await api.serve(chat()))
    assert (
        answer.status == 502 and json.loads(answer.body)["error"]["message"] == "not connected to any proxy"
    )
    assert (api.stats.started, api.stats.failed) == (1, 1)


def test_a_rejected_request_is_counted_and_answered() -> None:
    api, _ = serving()
    answer = api.reject(RequestError("bad", status=413, code="request_too_large"))
    assert answer.status == 413 and api.stats.rejected == 1


# --- model names, latency, receipts lookup --------------------------------------------------------


async def test_a_short_model_name_is_resolved_and_the_list_reused_for_a_while() -> None:
    clock = FakeClock()
    api, backend = serving(clock=clock)
    backend.model_list = [model_item(FAKE_MODEL_ID), model_item("other@1:x")]
    await read_all(as_stream(await api.serve(chat(model="fake-model"))))
    await read_all(as_stream(await api.serve(chat(model="fake-model"))))
    assert backend.model_queries == 1
    clock.advance(MODELS_TTL_S + 0.1)
    await read_all(as_stream(await api.serve(chat(model="fake-model"))))
    assert backend.model_queries == 2
    sent = backend.requests[0][0]
    assert sent.model == FAKE_MODEL_ID and sent.engine_body["model"] == FAKE_MODEL_ID
    await read_all(as_stream(await api.serve(chat(model=MODEL))))  # a full id: no lookup
    assert backend.model_queries == 2


async def test_latency_is_read_on_the_clock_from_arrival_to_the_last_event() -> None:
    clock = FakeClock()
    gate = Gate()
    api, _ = serving([head(), chunk(CONTENT), gate, END], clock=clock)
    started = clock.monotonic()
    clock.advance(0.25)
    stream = as_stream(await api.serve(chat(), started=started))
    reader = asyncio.ensure_future(read_all(stream))
    await gate.reached.wait()
    clock.advance(1.5)
    gate.opened.set()
    await reader
    assert api.stats.latency_sum_s == pytest.approx(1.75)
    assert sum(api.stats.latency_buckets) == 1


def test_an_unknown_receipt_is_a_404_naming_the_capacity() -> None:
    api, _ = serving()
    answer = api.receipt("00ff")
    assert answer.status == 404
    message = json.loads(answer.body)["error"]["message"]
    assert "'00ff'" in message and f"only the last {api.receipts.capacity}" in message


async def test_facts_combine_the_counters_and_the_backend_status() -> None:
    api, _ = serving()
    await read_all(as_stream(await api.serve(chat())))
    facts = await api.facts()
    assert facts["client"]["requests"]["succeeded"] == 1
    assert facts["client"]["receipts"] == {"verified": 0, "failed": 0, "missing": 1, "none_by_protocol": 0}
    assert facts["client_id"] == "fake"


async def test_the_default_fake_answer_streams_a_legacy_completion_too() -> None:
    api, backend = serving()
    body = json.dumps({"model": "fake-model", "prompt": "hi", "max_tokens": 4, "stream": True}).encode()
    request = validate_request("/v1/completions", body)
    data = data_of(b"".join(await read_all(as_stream(await api.serve(request)))))
    assert "".join(d["choices"][0]["text"] for d in data[:-1]) == FAKE_REPLY + " "
    assert data[-1] == "[DONE]" and backend.requests[0][0].model == FAKE_MODEL_ID
    assert api.stats.spent_nano > 0
