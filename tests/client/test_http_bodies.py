"""Hostile bodies and body headers through the client's real aiohttp app: a 4xx OpenAI error, nothing sent.

Each case is posted to the app on a test server with the `FakeBackend` in place of the network; the
answer must be the expected status with an OpenAI error body, and the backend must have received no
request (so nothing reached a proxy, a worker or the bill).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from lane_server import PATHS, served

from cocoon.api.json_body import MAX_JSON_DEPTH
from cocoon.api.validation import Limits
from cocoon.client.fake_backend import FakeBackend
from cocoon.client.http_api import SERVING_KEY, make_client_app

LIMIT = 256 * 1024
JSON = {"Content-Type": "application/json"}
GOOD = b'{"model":"fake-model","messages":[{"role":"user","content":"hi"}]%s}'


def body(extra: bytes = b"") -> bytes:
    return GOOD % extra


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture(params=PATHS)
async def client(backend: FakeBackend, request: pytest.FixtureRequest) -> AsyncIterator[TestClient]:
    """The app on aiohttp alone, and behind the fast lane."""
    app = make_client_app(backend, Limits(max_body_bytes=LIMIT))
    async with served(app, request.param == "lane") as test_client:
        yield test_client


# (case, body, headers, status, error code, param, a phrase of the message)
Case = tuple[str, bytes, dict[str, str], int, str | None, str | None, str]
CASES: list[Case] = [
    ("empty body", b"", JSON, 400, None, None, "empty"),
    ("whitespace only", b" \r\n\t ", JSON, 400, None, None, "empty"),
    ("NUL bytes", b"\x00\x00", JSON, 400, None, None, "not valid JSON"),
    ("an array", b"[1, 2, 3]", JSON, 400, None, None, "must be a JSON object"),
    ("a string", b'"hello"', JSON, 400, None, None, "must be a JSON object"),
    ("null", b"null", JSON, 400, None, None, "must be a JSON object"),
    ("not UTF-8", b'{"model": "\xc3\x28"}', JSON, 400, None, None, "not UTF-8"),
    ("UTF-16", body().decode().encode("utf-16"), JSON, 400, None, None, "not UTF-8"),
    ("lone surrogate", body(b',"user":"\\ud800"'), JSON, 400, None, "user", "surrogate"),
    ("1e999", body(b',"temperature":1e999'), JSON, 400, None, "temperature", "64-bit float"),
    ("int64 overflow", body(b',"seed":9223372036854775808'), JSON, 400, None, "seed", "64-bit integer"),
    ("huge integer", body(b',"seed":' + b"9" * 5000), JSON, 400, None, None, "digits"),
    ("huge number", body(b',"top_p":' + b"9" * 400), JSON, 400, None, "top_p", "a number"),
    ("NaN", body(b',"temperature":NaN'), JSON, 400, None, None, "NaN"),
    ("Infinity", body(b',"tools":[Infinity]'), JSON, 400, None, None, "Infinity"),
    ("duplicate keys", body(b',"model":"x"'), JSON, 400, None, "model", "Duplicate key"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, JSON, 400, None, None, "deeper than"),
    (
        "nesting past the limit",
        body(b',"tools":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH),
        JSON,
        400,
        None,
        None,
        "deeper than",
    ),
    (
        "many keys",
        b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(10_000)) + b"}",
        JSON,
        400,
        None,
        "model",
        "Missing required parameter",
    ),
    (
        "a string over the limit",
        body(b',"user":"' + b"x" * LIMIT + b'"'),
        JSON,
        413,
        "request_too_large",
        None,
        "exceeds the limit",
    ),
    (
        "stream_options without stream",
        body(b',"stream_options":{"include_usage":true}'),
        JSON,
        400,
        None,
        "stream_options",
        "only allowed when 'stream' is enabled",
    ),
    (
        "text/plain",
        body(),
        {"Content-Type": "text/plain;charset=UTF-8"},  # what a page's fetch() sends for a string
        415,
        "unsupported_media_type",
        None,
        "application/json",
    ),
    (
        "form-urlencoded",
        body(),
        {"Content-Type": "application/x-www-form-urlencoded"},  # curl -d without -H, an HTML form
        415,
        "unsupported_media_type",
        None,
        "application/json",
    ),
    (
        "multipart",
        body(),
        {"Content-Type": "multipart/form-data; boundary=x"},
        415,
        "unsupported_media_type",
        None,
        "application/json",
    ),
    (
        "octet-stream",
        body(),
        {"Content-Type": "application/octet-stream"},
        415,
        "unsupported_media_type",
        None,
        "",
    ),
    (
        "JSON in UTF-16 by its charset",
        body(),
        {"Content-Type": "application/json; charset=utf-16"},
        415,
        "unsupported_media_type",
        None,
        "application/json",
    ),
    (
        "a gzip bomb",
        gzip.compress(b"{" + b" " * (64 * 1024 * 1024) + b"}"),
        {**JSON, "Content-Encoding": "gzip"},
        415,
        "unsupported_content_encoding",
        None,
        "uncompressed",
    ),
    (
        "deflate",
        zlib.compress(body()),
        {**JSON, "Content-Encoding": "deflate"},
        415,
        "unsupported_content_encoding",
        None,
        "uncompressed",
    ),
    (
        "gzip, after identity",
        gzip.compress(body()),
        {**JSON, "Content-Encoding": "identity, gzip"},
        415,
        "unsupported_content_encoding",
        None,
        "uncompressed",
    ),
]


@pytest.mark.parametrize(
    ("case", "raw", "headers", "status", "code", "param", "phrase"), CASES, ids=[c[0] for c in CASES]
)
async def test_a_hostile_body_is_an_openai_error_and_reaches_nothing(
    client: TestClient,
    backend: FakeBackend,
    case: str,
    raw: bytes,
    headers: dict[str, str],
    status: int,
    code: str | None,
    param: str | None,
    phrase: str,
) -> None:
    resp = await client.post("/v1/chat/completions", data=raw, headers=headers)
    assert resp.status == status
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    doc = json.loads(await resp.read())
    assert list(doc) == ["error"] and set(doc["error"]) == {"message", "type", "param", "code"}
    error = doc["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["code"], error["param"]) == (code, param)
    assert error["message"] and phrase in error["message"]
    if code == "unsupported_content_encoding":
        assert resp.headers["Accept-Encoding"] == "identity"
    assert backend.requests == []
    assert client.server.app[SERVING_KEY].stats.rejected == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Content-Type at all: requests.post(url, data=...) sends none
        {"Content-Type": "application/json"},
        {"Content-Type": "Application/JSON; charset=UTF-8"},
        {"Content-Type": "application/json", "Content-Encoding": "identity"},
    ],
    ids=["absent", "application/json", "with charset", "identity encoding"],
)
async def test_json_or_no_content_type_is_served(
    client: TestClient, backend: FakeBackend, headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/v1/chat/completions", data=body(), headers=headers, skip_auto_headers=["Content-Type"]
    )
    assert resp.status == 200, await resp.text()
    assert len(backend.requests) == 1


async def test_a_byte_order_mark_is_ignored(client: TestClient, backend: FakeBackend) -> None:
    resp = await client.post("/v1/chat/completions", data=b"\xef\xbb\xbf" + body(), headers=JSON)
    assert resp.status == 200
    [(request, _)] = backend.requests
    assert request.engine_body_bytes().startswith(b'{"model"')
