"""The client's real aiohttp app on a test server, with the `FakeBackend` in place of the network."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from client_answers import (
    CONTENT,
    END,
    NOW,
    USAGE_EVENT,
    chat_body,
    chunk,
    data_of,
    error,
    events_of,
    head,
    signed_answer,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lane_server import PATHS, served

from cocoon.api.validation import Limits
from cocoon.client.fake_backend import FAKE_MODEL_ID, FAKE_PRICE_NANO, FAKE_REPLY, FakeBackend, Gate
from cocoon.client.http_api import SERVING_KEY, make_client_app
from cocoon.client.receipts import ReceiptBook
from cocoon.client.serving import ClientServing
from cocoon.clock import FakeClock
from cocoon.errors import RequestError

JSON_TYPE = "application/json; charset=utf-8"
JSON_BODY = {"Content-Type": "application/json"}  # aiohttp's client would label raw bytes octet-stream


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture(params=PATHS)
async def client(backend: FakeBackend, request: pytest.FixtureRequest) -> AsyncIterator[TestClient]:
    """The app on aiohttp alone, and behind the fast lane."""
    app = make_client_app(backend, Limits(max_body_bytes=4096))
    async with served(app, request.param == "lane") as test_client:
        yield test_client


def serving_of(client: TestClient) -> ClientServing:
    return client.server.app[SERVING_KEY]


async def test_a_multi_line_engine_event_reaches_the_caller_whole(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.add([head(), chunk(b'data: {"a":\ndata: 1}\n\n'), END])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    raw = await resp.read()
    assert [e.data for e in events_of(raw)] == ['{"a":\n1}', "[DONE]"]


async def test_a_stream_has_sse_headers_and_the_request_id(client: TestClient, backend: FakeBackend) -> None:
    backend.add([head(200, "text/event-stream", ("x-cocoon-worker", "w1")), chunk(CONTENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Cocoon-Worker"] == "w1"
    assert resp.headers["X-Cocoon-Request-Id"] == f"{backend.requests[0][1]:016x}"
    assert await resp.read() == CONTENT + b"data: [DONE]\n\n"


@pytest.mark.parametrize("wants_usage", [True, False])
async def test_the_usage_chunk_carries_the_cost_only_if_asked(
    client: TestClient, backend: FakeBackend, wants_usage: bool
) -> None:
    backend.add([head(), chunk(CONTENT + USAGE_EVENT), END])
    resp = await client.post("/v1/chat/completions", json=chat_body(usage=wants_usage))
    data = data_of(await resp.read())
    assert data[-1] == "[DONE]"
    usages = [d["usage"] for d in data[:-1] if "usage" in d]
    assert usages == (
        [{"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7, **_COST}] if wants_usage else []
    )


_COST = {
    "prompt_total_cost": 5_000,
    "completion_total_cost": 2_000,
    "total_cost": 7_000,
    "adjusted_tokens": 7,
}


async def test_a_late_error_is_an_error_event_then_done(client: TestClient, backend: FakeBackend) -> None:
    backend.add([head(), chunk(CONTENT), error(504, "timeout", "no complete answer within 5 s")])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    assert resp.status == 200  # the stream had started
    data = data_of(await resp.read())
    assert data[-2]["error"]["code"] == "timeout" and data[-1] == "[DONE]"


async def test_a_caller_that_disconnects_cancels_the_network_request(
    client: TestClient, backend: FakeBackend
) -> None:
    gate = Gate()  # never opened: the answer stalls after its first event
    backend.add([head(), chunk(CONTENT), gate, END])
    resp = await client.post("/v1/chat/completions", json=chat_body())
    assert await resp.content.readuntil(b"\n\n") == CONTENT
    await gate.reached.wait()
    resp.close()  # the caller goes away mid-answer
    async with asyncio.timeout(10):
        await backend.cancelled.wait()
    assert backend.cancels == ["the caller disconnected"]
    assert serving_of(client).stats.cancelled == 1


async def test_the_default_fake_answer_streams_and_resolves_the_short_name(
    client: TestClient, backend: FakeBackend
) -> None:
    resp = await client.post("/v1/chat/completions", json=chat_body(model="fake-model", usage=True))
    data = data_of(await resp.read())
    text = "".join(d["choices"][0]["delta"]["content"] for d in data[:-2])
    assert text == FAKE_REPLY + " " and data[-1] == "[DONE]"
    assert data[-2]["usage"]["total_cost"] == data[-2]["usage"]["adjusted_tokens"] * FAKE_PRICE_NANO
    assert backend.requests[0][0].model == FAKE_MODEL_ID


async def test_a_whole_answer_has_cost_fields_in_usage(client: TestClient) -> None:
    resp = await client.post("/v1/completions", json={"model": "fake-model", "prompt": "hi", "max_tokens": 4})
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
    doc = await resp.json()
    assert doc["choices"][0]["text"] == FAKE_REPLY + " "
    usage = doc["usage"]
    assert usage["total_cost"] == usage["prompt_total_cost"] + usage["completion_total_cost"] > 0
    assert "receipt" not in doc


async def test_a_request_the_network_cannot_start_is_a_json_error(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.add(RequestError("not connected to any proxy", status=502, error_type="upstream_error"))
    resp = await client.post("/v1/chat/completions", json=chat_body())
    assert resp.status == 502 and resp.headers["Content-Type"] == JSON_TYPE
    assert (await resp.json())["error"]["type"] == "upstream_error"


async def test_a_body_over_the_limit_is_a_413_and_counted(client: TestClient, backend: FakeBackend) -> None:
    resp = await client.post("/v1/chat/completions", data=b"x" * 5000, headers=JSON_BODY)
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "request_too_large"
    assert serving_of(client).stats.rejected == 1 and backend.requests == []


async def test_an_invalid_body_is_a_400(client: TestClient) -> None:
    resp = await client.post("/v1/chat/completions", data=b"{", headers=JSON_BODY)
    assert resp.status == 400 and resp.headers["Content-Type"] == JSON_TYPE


async def test_unknown_routes_and_methods_are_openai_errors(client: TestClient) -> None:
    resp = await client.get("/v1/nothing")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "unknown_url"
    resp = await client.get("/v1/chat/completions")
    assert resp.status == 405 and "not allowed" in (await resp.json())["error"]["message"]


async def test_status_routes(client: TestClient) -> None:
    models = await (await client.get("/v1/models")).json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == [FAKE_MODEL_ID]
    assert await (await client.get("/healthz")).json() == {"ok": True}
    stats = await (await client.get("/jsonstats")).json()
    assert stats["client"]["requests"]["started"] == 0 and stats["client_id"] == "fake"
    metrics = await client.get("/metrics")
    assert "cocoon_client_requests_total" in await metrics.text()
    for page in ("/", "/stats"):
        dashboard = await client.get(page)
        assert dashboard.status == 200 and dashboard.headers["Content-Type"].startswith("text/html")


async def test_an_unknown_receipt_is_a_404(client: TestClient) -> None:
    resp = await client.get("/v1/receipts/0123456789abcdef")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "receipt_not_found"
    assert resp.headers["Content-Type"] == JSON_TYPE
    assert json.loads(await resp.text())["error"]["param"] is None


async def test_a_verified_receipt_rides_in_the_streamed_usage_chunk_and_is_kept() -> None:
    key = Ed25519PrivateKey.generate()
    backend = FakeBackend([signed_answer(key, [CONTENT, USAGE_EVENT])])
    app = make_client_app(backend, receipts=ReceiptBook(clock=FakeClock(wall=NOW)))
    async with served(app, lane=True) as client:
        resp = await client.post("/v1/chat/completions", json=chat_body(usage=True))
        data = data_of(await resp.read())
        receipt = data[-2]["receipt"]
        assert receipt["signer"] == key.public_key().public_bytes_raw().hex()
        assert data[-2]["usage"]["total_cost"] == 7_000 and data[-1] == "[DONE]"
        stored = await client.get(f"/v1/receipts/{resp.headers['X-Cocoon-Request-Id']}")
        assert stored.status == 200 and await stored.json() == receipt
