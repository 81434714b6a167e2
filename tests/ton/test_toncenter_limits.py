"""ToncenterChain against a fake toncenter that refuses with HTTP 429 or its rate-limit body: retried
after a backoff, counted by method, a clear error after too many refusals, and the node's request
budget spacing concurrent calls. LiteChain retries a failed query and counts it the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cocoon.chainsvc.limiter import RateGate, request_stats
from cocoon.chainsvc.lite import LiteChain
from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.errors import ChainError, ContractError
from cocoon.ton.address import Address

ZERO = Address(0, bytes(32))
TIME_ANSWER = {"ok": True, "result": {"sync_utime": 1_700_000_000}}


class FakeToncenter:
    """Answers getAddressInformation; the first ``refusals`` requests are refused as ``refusal``."""

    def __init__(self, refusals: int, refusal: str = "http") -> None:
        self.refusals, self.refusal = refusals, refusal
        self.seen: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(time.monotonic())
        if len(self.seen) <= self.refusals:
            if self.refusal == "http":
                return web.Response(status=429, text="Too Many Requests")
            return web.json_response({"ok": False, "error": "Ratelimit exceed", "code": 429})
        return web.json_response(TIME_ANSWER)


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    servers: list[TestServer] = []

    async def start(fake: FakeToncenter) -> str:
        app = web.Application()
        app.router.add_get("/api/v2/getAddressInformation", fake.handle)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


def fast_gate(rate_per_s: float = 0.0, max_attempts: int = 6) -> RateGate:
    return RateGate(rate_per_s, rand=lambda: 0.0, max_attempts=max_attempts, backoff_base_s=0.02)


@pytest.mark.parametrize("refusal", ["http", "body"])
async def test_a_429_is_retried_after_a_growing_backoff_then_answers(serve: Any, refusal: str) -> None:
    fake = FakeToncenter(refusals=2, refusal=refusal)
    async with ToncenterChain(await serve(fake), gate=fast_gate()) as chain:
        assert await chain.get_time() == 1_700_000_000
        stats = request_stats(chain)
    assert len(fake.seen) == 3
    gaps = [b - a for a, b in zip(fake.seen, fake.seen[1:], strict=False)]
    assert gaps[0] >= 0.01 and gaps[1] >= 0.02  # 0.02 * 2**(n-1), jitter 0 = half of it
    assert stats is not None
    assert (stats["requests"], stats["by_method"], stats["rate_limited"]) == (
        3,
        {"getAddressInformation": 3},
        2,
    )


async def test_after_too_many_refusals_the_error_says_what_to_do(serve: Any) -> None:
    fake = FakeToncenter(refusals=100)
    async with ToncenterChain(await serve(fake), gate=fast_gate(max_attempts=3)) as chain:
        with pytest.raises(ChainError, match="too many requests 3 times") as err:
            await chain.get_time()
    assert "chain_api_key" in str(err.value) and len(fake.seen) == 3


async def test_one_bucket_spaces_all_concurrent_calls_of_a_node(serve: Any) -> None:
    fake = FakeToncenter(refusals=0)
    async with ToncenterChain(await serve(fake), gate=fast_gate(rate_per_s=20.0)) as chain:
        await asyncio.gather(*(chain.get_time() for _ in range(6)))
    # a burst of one, then 1/20 s apart: five gaps of 50 ms
    assert fake.seen[-1] - fake.seen[0] >= 5 * 0.05 * 0.9


class FlakyLite:
    """A liteserver client whose first answers fail, as a balancer's peer that went away."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def get_time(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise TimeoutError("liteserver timed out")
        return 1_700_000_000

    async def run_get_method(self, address: Any, method: str | int, stack: list[Any]) -> list[Any]:
        self.calls += 1

        class RunGetMethodError(Exception):
            exit_code = 11

        raise RunGetMethodError("exit code 11")


async def test_lite_queries_are_retried_across_failures_and_counted() -> None:
    api = FlakyLite(failures=2)
    chain = LiteChain(api, attempts=3, gate=fast_gate())  # type: ignore[arg-type]
    assert await chain.get_time() == 1_700_000_000
    assert chain.requests.by_method["get_time"] == 3
    with pytest.raises(ChainError, match="cannot read the time"):
        await LiteChain(FlakyLite(failures=5), attempts=3, gate=fast_gate()).get_time()  # type: ignore[arg-type]


async def test_a_get_method_exit_code_is_an_answer_not_retried() -> None:
    api = FlakyLite(failures=0)
    with pytest.raises(ContractError):
        await LiteChain(api, attempts=3, gate=fast_gate()).run_get_method(ZERO, "nope")  # type: ignore[arg-type]
    assert api.calls == 1
