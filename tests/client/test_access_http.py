"""Origins, API keys and daily budgets on the client's real aiohttp app (`FakeBackend` behind it),
with raw HTTP and with the official openai SDK."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from aiohttp.test_utils import TestClient
from client_answers import BODY, chat_body, chunk, head
from lane_server import PATHS, served

from cocoon.client.access import AccessControl
from cocoon.client.budget import DAY_S
from cocoon.client.cors import OriginPolicy
from cocoon.client.fake_backend import FakeBackend
from cocoon.client.http_api import make_client_app
from cocoon.client.keys import KeyFile, add_key, revoke_key
from cocoon.clock import FakeClock
from cocoon.usage import Usage
from cocoon.wire.messages import AnswerEnd

ALLOWED = "https://app.example.com"
MIDNIGHT = 1_700_006_400.0  # 2023-11-15 00:00 UTC
LIMIT = 10_000


def paid(cost: int) -> list[object]:
    """A whole answer that costs ``cost`` nanoTON."""
    usage = Usage(prompt_tokens=5, completion_tokens=2)
    end = AnswerEnd(1, usage, adjusted_tokens=7, cost=cost, prompt_cost=5)
    return [head(200, "application/json"), chunk(BODY), end]


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=MIDNIGHT + 23 * 3600)


@pytest.fixture
def keys_path(tmp_path: Path) -> Path:
    return tmp_path / "api_keys.json"


@pytest.fixture
def secrets_(keys_path: Path) -> dict[str, str]:
    """Two keys: ``capped`` (LIMIT nanoTON a day) and ``free`` (no limit)."""
    _, capped = add_key(keys_path, name="capped", daily_limit_nano=LIMIT, now=0)
    _, free = add_key(keys_path, name="free", now=0)
    return {"capped": capped, "free": free}


@pytest.fixture(params=PATHS)
def lane(request: pytest.FixtureRequest) -> bool:
    """Every test runs on aiohttp alone and behind the fast lane."""
    return request.param == "lane"


async def _serve(backend: FakeBackend, access: AccessControl, lane: bool) -> AsyncIterator[TestClient]:
    app = make_client_app(backend, clock=access.clock, access=access)
    async with served(app, lane) as test_client:
        yield test_client


@pytest.fixture
async def client(
    backend: FakeBackend, keys_path: Path, clock: FakeClock, secrets_: dict[str, str], lane: bool
) -> AsyncIterator[TestClient]:
    access = AccessControl(OriginPolicy.from_config([ALLOWED]), KeyFile(keys_path), clock=clock)
    async for test_client in _serve(backend, access, lane):
        yield test_client


@pytest.fixture
async def open_client(backend: FakeBackend, lane: bool) -> AsyncIterator[TestClient]:
    """No keys configured, no origin allowed: the defaults of a daemon on loopback."""
    async for test_client in _serve(backend, AccessControl(), lane):
        yield test_client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# --- browsers ---------------------------------------------------------------------------------------


async def test_a_cross_origin_text_plain_post_is_refused_before_the_network(
    open_client: TestClient, backend: FakeBackend
) -> None:
    body = '{"model":"fake-model","messages":[{"role":"user","content":"spend"}]}'
    resp = await open_client.post(
        "/v1/chat/completions",
        data=body,
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert error["code"] == "origin_not_allowed" and "allowed_origins" in error["message"]
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert backend.requests == []
    stats = await (await open_client.get("/jsonstats")).json()
    assert stats["client"]["requests"]["rejected"] == 1 and stats["client"]["spent_nano"] == 0


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "PUT"])
async def test_a_refused_origin_gets_403_whatever_the_method(open_client: TestClient, method: str) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    resp = await open_client.request(method, "/v1/models", headers=headers)
    assert resp.status == 403


async def test_requests_without_origin_are_served_as_before(
    open_client: TestClient, backend: FakeBackend
) -> None:
    resp = await open_client.post("/v1/chat/completions", json=chat_body(model="fake-model", stream=False))
    assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
    assert len(backend.requests) == 1


async def test_an_allowed_origin_is_served_with_cors_headers_stream_included(
    client: TestClient, backend: FakeBackend, secrets_: dict[str, str]
) -> None:
    headers = {"Origin": ALLOWED, **bearer(secrets_["free"])}
    for stream in (False, True):
        resp = await client.post(
            "/v1/chat/completions", json=chat_body(model="fake-model", stream=stream), headers=headers
        )
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "X-Cocoon-Request-Id" in resp.headers["Access-Control-Expose-Headers"]
        await resp.read()
    assert len(backend.requests) == 2


async def test_a_preflight_of_an_allowed_origin_is_answered_without_a_key(
    client: TestClient, backend: FakeBackend
) -> None:
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
    }
    resp = await client.options("/v1/chat/completions", headers=headers)
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert resp.headers["Access-Control-Allow-Headers"] == "authorization, content-type, x-stainless-os"
    assert backend.requests == []


# --- keys -------------------------------------------------------------------------------------------


async def test_missing_or_unknown_keys_are_401_invalid_api_key(
    client: TestClient, backend: FakeBackend
) -> None:
    for headers in ({}, bearer("sk-cocoon-not-a-key-at-all-0000"), {"Authorization": "Token x"}):
        resp = await client.post("/v1/chat/completions", json=chat_body(), headers=headers)
        assert resp.status == 401
        error = (await resp.json())["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
        assert resp.headers["x-should-retry"] == "false"
    assert backend.requests == []


async def test_a_revoked_key_is_refused_from_the_next_request(
    client: TestClient, keys_path: Path, secrets_: dict[str, str]
) -> None:
    resp = await client.post(
        "/v1/chat/completions", json=chat_body(model="fake-model"), headers=bearer(secrets_["free"])
    )
    assert resp.status == 200
    await resp.read()
    revoke_key(keys_path, "free")
    resp = await client.post(
        "/v1/chat/completions", json=chat_body(model="fake-model"), headers=bearer(secrets_["free"])
    )
    assert resp.status == 401 and "unknown or revoked" in (await resp.json())["error"]["message"]


async def test_which_pages_need_a_key(client: TestClient, secrets_: dict[str, str]) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/v1/models")).status == 200
    for path in ("/jsonstats", "/metrics", "/", "/stats", "/v1/receipts/00"):
        assert (await client.get(path)).status == 401, path
    page = await client.get("/")
    assert page.headers["WWW-Authenticate"].startswith("Basic")  # a browser asks for the key
    basic = base64.b64encode(f"me:{secrets_['free']}".encode()).decode()
    assert (await client.get("/", headers={"Authorization": f"Basic {basic}"})).status == 200
    assert (await client.get("/jsonstats", headers=bearer(secrets_["free"]))).status == 200


async def test_a_key_over_its_daily_limit_is_429_until_utc_midnight(
    client: TestClient, backend: FakeBackend, clock: FakeClock, secrets_: dict[str, str]
) -> None:
    capped = bearer(secrets_["capped"])
    backend.add(paid(LIMIT - 1))
    backend.add(paid(5_000))
    for _ in range(2):  # the second starts under the limit and finishes over it
        resp = await client.post("/v1/chat/completions", json=chat_body(stream=False), headers=capped)
        assert resp.status == 200
    resp = await client.post("/v1/chat/completions", json=chat_body(stream=False), headers=capped)
    assert resp.status == 429
    error = (await resp.json())["error"]
    assert error["code"] == error["type"] == "insufficient_quota"
    assert "resets at 2023-11-16 00:00 UTC (in 1 h 0 min)" in error["message"]
    assert resp.headers["Retry-After"] == "3600"
    assert len(backend.requests) == 2
    other = await client.post(
        "/v1/chat/completions", json=chat_body(model="fake-model"), headers=bearer(secrets_["free"])
    )
    assert other.status == 200  # the limit is per key
    await other.read()
    clock.advance(3600)
    backend.add(paid(1))
    resp = await client.post("/v1/chat/completions", json=chat_body(stream=False), headers=capped)
    assert resp.status == 200


async def test_usage_and_spend_per_key_in_jsonstats_metrics_and_dashboard(
    client: TestClient, backend: FakeBackend, clock: FakeClock, secrets_: dict[str, str]
) -> None:
    backend.add(paid(4_000))
    resp = await client.post(
        "/v1/chat/completions", json=chat_body(stream=False), headers=bearer(secrets_["capped"])
    )
    assert resp.status == 200
    auth = bearer(secrets_["free"])
    keys = (await (await client.get("/jsonstats", headers=auth)).json())["client"]["keys"]
    assert keys["capped"] == {
        "requests": 1,
        "succeeded": 1,
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "spent_nano": 4_000,
        "spent_today_nano": 4_000,
        "daily_limit_nano": LIMIT,
        "revoked": False,
    }
    assert keys["free"]["requests"] == 0 and keys["free"]["daily_limit_nano"] is None
    metrics = await (await client.get("/metrics", headers=auth)).text()
    assert 'cocoon_client_key_spent_nanoton_total{key="capped"} 4000' in metrics
    assert f'cocoon_client_key_daily_limit_nanoton{{key="capped"}} {LIMIT}' in metrics
    assert 'cocoon_client_key_requests_total{key="free"} 0' in metrics
    page = await (await client.get("/", headers=auth)).text()
    assert "<h2>API keys</h2>" in page and "<code>capped</code>" in page and "0.000004" in page
    clock.advance(DAY_S)
    keys = (await (await client.get("/jsonstats", headers=auth)).json())["client"]["keys"]
    assert keys["capped"]["spent_today_nano"] == 0 and keys["capped"]["spent_nano"] == 4_000


async def test_a_streamed_answer_counts_on_its_key(
    client: TestClient, backend: FakeBackend, secrets_: dict[str, str]
) -> None:
    resp = await client.post(
        "/v1/chat/completions", json=chat_body(model="fake-model"), headers=bearer(secrets_["free"])
    )
    await resp.read()
    keys = (await (await client.get("/jsonstats", headers=bearer(secrets_["free"]))).json())["client"]
    assert keys["keys"]["free"]["spent_nano"] == keys["spent_nano"] > 0


async def test_a_broken_key_file_refuses_requests_with_a_500_saying_why(
    client: TestClient, keys_path: Path, backend: FakeBackend, secrets_: dict[str, str]
) -> None:
    keys_path.write_bytes(b"{broken")  # noqa: ASYNC240 (a test's one small write)
    resp = await client.post("/v1/chat/completions", json=chat_body(), headers=bearer(secrets_["free"]))
    assert resp.status == 500
    assert "not a cocoon API key file" in (await resp.json())["error"]["message"]
    assert backend.requests == []


# --- the openai SDK ---------------------------------------------------------------------------------


def sdk(client: TestClient, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=key, max_retries=0)


async def test_the_openai_sdk_with_right_wrong_and_exhausted_keys(
    client: TestClient, backend: FakeBackend, secrets_: dict[str, str]
) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    async with sdk(client, secrets_["capped"]) as api:
        backend.add(paid(LIMIT))
        answer = await api.chat.completions.create(model="fake-model", messages=messages)
        assert answer.choices[0].message.content == "hi"
        with pytest.raises(openai.RateLimitError, match="daily limit"):
            await api.chat.completions.create(model="fake-model", messages=messages)
    async with sdk(client, "sk-cocoon-wrong") as api:
        with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
            await api.chat.completions.create(model="fake-model", messages=messages)
    assert len(backend.requests) == 1
