"""A request to a COCOON proxy and its answer packets, mapped without sockets (`cocoon.client.cocoon_answer`).

Answers are built from the decoded TL objects a proxy sends; the parts they map to go through the
client's own serving layer (`ClientServing` with a scripted backend), so what the app receives is
checked too.
"""

from __future__ import annotations

import json

from client_answers import as_stream, as_whole, chat, data_of, read_all

from cocoon.client.cocoon_answer import AnswerMapper, run_query
from cocoon.client.cocoon_proxy import worker_types
from cocoon.client.fake_backend import FakeBackend
from cocoon.client.model_list import model_list
from cocoon.client.serving import ClientServing
from cocoon.clock import FakeClock
from cocoon.tl.codec import decode_as, encode
from cocoon.tl.types import (
    ClientQueryAnswerError,
    ClientQueryAnswerErrorEx,
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    ClientQueryFinalInfo,
    ClientWorkerInstanceV2,
    ClientWorkerTypesV2,
    ClientWorkerTypeV2,
    HttpHeader,
    HttpRequest,
    HttpResponse,
    TokensUsed,
)
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart

RID = bytes(range(32))
TOKENS = TokensUsed(5, 0, 2, 0, 7)
FINAL = ClientQueryFinalInfo(tokens_used=TOKENS)
USAGE = {
    "prompt_tokens": 5,
    "completion_tokens": 2,
    "total_tokens": 7,
    "prompt_total_cost": 10,
    "total_cost": 14,
}
WHOLE = json.dumps(
    {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}], "usage": USAGE}
)
CHUNK = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None})
USAGE_CHUNK = json.dumps({"choices": [], "usage": USAGE})


def first(
    status: int = 200, payload: bytes = b"", final: ClientQueryFinalInfo | None = None
) -> ClientQueryAnswerEx:
    headers = (HttpHeader("Content-Type", "application/json"), HttpHeader("X-Cocoon-Worker-Start", "1.5"))
    response = HttpResponse("HTTP/1.1", status, "OK", headers, payload)
    return ClientQueryAnswerEx(RID, encode(response), final)


def part(data: bytes, final: ClientQueryFinalInfo | None = None) -> ClientQueryAnswerPartEx:
    return ClientQueryAnswerPartEx(RID, data, final)


def mapped(packets: list[object], *, stream: bool, price: int | None = None) -> list[AnswerPart]:
    mapper = AnswerMapper(9, "proxy:1", stream=stream, price_per_token=price)
    parts = [p for packet in packets for p in mapper.feed(packet)]  # type: ignore[arg-type]
    assert mapper.done
    assert mapper.feed(part(b"late", FINAL)) == []  # nothing after the end
    return parts


def test_run_query_boxes_the_engine_body_in_an_http_request() -> None:
    request = chat(stream=True, usage=True)
    query = run_query(request, RID, timeout_s=100.0, min_config_version=3)
    http = decode_as(query.query, HttpRequest)
    assert (http.method, http.url) == ("POST", "/v1/chat/completions")
    assert dict((h.name, h.value) for h in http.headers) == {
        "Content-Type": "application/json",
        "Content-Length": str(len(request.engine_body_bytes())),
    }
    assert http.payload == request.engine_body_bytes()
    assert json.loads(http.payload)["stream_options"] == {"include_usage": True}
    assert (query.model_name, query.request_id, query.min_config_version) == (request.model, RID, 3)
    assert (query.max_tokens, query.max_coefficient) == (8, request.max_coefficient)
    assert query.timeout == 95.0
    assert query.enable_debug is None


def test_a_whole_answer_in_parts_keeps_its_body_and_the_workers_cost() -> None:
    parts = mapped([first(), part(WHOLE.encode() + b"\n"), part(b"", FINAL)], stream=False)
    assert parts[0] == AnswerHead(
        9, 200, (("Content-Type", "application/json"), ("X-Cocoon-Worker-Start", "1.5"))
    )
    assert parts[1] == AnswerChunk(9, WHOLE.encode() + b"\n")
    end = parts[2]
    assert isinstance(end, AnswerEnd) and len(parts) == 3
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (5, 2)
    assert (end.adjusted_tokens, end.cost, end.prompt_cost) == (7, 14, 10)


def test_a_whole_answer_in_the_first_packet_ends_at_once_priced_by_the_network() -> None:
    parts = mapped([first(payload=WHOLE.encode(), final=FINAL)], stream=False, price=20)
    assert [type(p) for p in parts] == [AnswerHead, AnswerChunk, AnswerEnd]
    end = parts[2]
    assert isinstance(end, AnswerEnd)
    assert (end.cost, end.prompt_cost) == (7 * 20, 5 * 20)


def test_json_lines_of_the_reference_worker_become_sse_events_even_split() -> None:
    lines = (CHUNK + "\n" + USAGE_CHUNK + "\n").encode()
    cut = len(CHUNK) + 10  # inside the second line
    parts = mapped([first(), part(lines[:cut]), part(lines[cut:]), part(b"", FINAL)], stream=True)
    data = b"".join(p.data for p in parts if isinstance(p, AnswerChunk))
    assert data == f"data: {CHUNK}\n\ndata: {USAGE_CHUNK}\n\n".encode()
    end = parts[-1]
    assert isinstance(end, AnswerEnd) and end.cost == 14 and end.usage.completion_tokens == 2


def test_sse_passes_unchanged_and_its_usage_is_read() -> None:
    sse = f"data: {CHUNK}\n\ndata: {USAGE_CHUNK}\n\ndata: [DONE]\n\n".encode()
    parts = mapped([first(), part(sse[:7]), part(sse[7:], FINAL)], stream=True)
    assert b"".join(p.data for p in parts if isinstance(p, AnswerChunk)) == sse
    end = parts[-1]
    assert isinstance(end, AnswerEnd) and end.usage.prompt_tokens == 5


def test_a_stream_that_ends_without_data_is_an_upstream_error_not_an_empty_answer() -> None:
    [head, error] = mapped([first(), part(b"", FINAL)], stream=True)
    assert isinstance(head, AnswerHead)
    assert isinstance(error, AnswerError) and (error.status, error.code) == (502, "upstream_error")
    assert "without any data" in error.message
    [_, chunk, end] = mapped([first(payload=f"{USAGE_CHUNK}\n".encode(), final=FINAL)], stream=True)
    assert isinstance(chunk, AnswerChunk) and isinstance(end, AnswerEnd)


def test_cocoon_error_codes_become_our_statuses() -> None:
    cases = {
        (652, "timeout in proxy"): (504, "timeout"),
        (621, "unknown option 'tools' in request"): (400, "invalid_request_error"),
        (651, "no working workers"): (503, "no_capacity"),
        (621, "unknown model nope"): (404, "model_not_found"),
        (602, "client balance is too low: 5 < 10000"): (402, "insufficient_funds"),
        (601, "worker: engine down"): (502, "upstream_error"),
    }
    for (code, message), expected in cases.items():
        [error] = mapped([ClientQueryAnswerErrorEx(RID, code, message, FINAL)], stream=False)
        assert isinstance(error, AnswerError)
        assert (error.status, error.code) == expected
        assert message in error.message and "proxy:1" in error.message


def test_the_legacy_early_rejection_is_an_error_too() -> None:
    [error] = mapped([ClientQueryAnswerError(651, "no workers for model", RID, TOKENS)], stream=True)
    assert isinstance(error, AnswerError) and error.status == 503


def test_a_part_before_the_head_or_a_bad_head_is_an_upstream_error() -> None:
    [error] = mapped([part(b"x")], stream=True)
    assert isinstance(error, AnswerError) and (error.status, error.code) == (502, "upstream_error")
    [error] = mapped([ClientQueryAnswerEx(RID, b"not tl", None)], stream=True)
    assert isinstance(error, AnswerError) and "http.response" in error.message


def test_worker_types_v2_merge_into_the_model_list() -> None:
    v2 = ClientWorkerTypesV2(
        (
            ClientWorkerTypeV2(
                "Qwen/Qwen3-8B", (ClientWorkerInstanceV2(0, 1, 60), ClientWorkerInstanceV2(1500, 0, 8))
            ),
        )
    )
    [item] = model_list([("127.0.0.1:21002", worker_types(v2))])
    assert item["id"] == "Qwen/Qwen3-8B" and item["object"] == "model"
    assert [(w["coefficient"], w["active"], w["max_active"]) for w in item["workers"]] == [
        (0, 1, 60),
        (1500, 0, 8),
    ]
    assert {w["proxy"] for w in item["workers"]} == {"127.0.0.1:21002"}


async def test_the_app_gets_the_same_openai_answers_from_mapped_parts() -> None:
    whole = mapped([first(), part(WHOLE.encode() + b"\n"), part(b"", FINAL)], stream=False)
    lines = (CHUNK + "\n" + USAGE_CHUNK + "\n").encode()
    streamed = mapped([first(), part(lines), part(b"", FINAL)], stream=True)
    serving = ClientServing(FakeBackend([whole, streamed]), clock=FakeClock())
    body = json.loads(as_whole(await serving.serve(chat(stream=False))).body)
    assert body["choices"][0]["message"]["content"] == "hi"
    assert body["usage"]["total_cost"] == 14 and body["usage"]["adjusted_tokens"] == 7
    raw = b"".join(await read_all(as_stream(await serving.serve(chat(stream=True, usage=True)))))
    events = data_of(raw)
    assert events[0]["choices"][0]["delta"]["content"] == "hi"
    assert events[1]["usage"]["total_cost"] == 14 and events[1]["choices"] == []
    assert events[-1] == "[DONE]" and len(events) == 3
