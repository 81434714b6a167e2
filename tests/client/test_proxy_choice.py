"""Which proxy a request goes to and which answers send it to another (`cocoon.client.proxy_choice`),
and the pool doing it with scripted proxies: the first part decides, a refusal of the request stays."""

from __future__ import annotations

from typing import Any

import pytest
from client_answers import MODEL, chat, head

from cocoon.client.failover import PrimedAnswer
from cocoon.client.network import ProxyPool
from cocoon.client.proxy_choice import ERROR_PENALTY, ERROR_WINDOW_S, ProxyChoice, fails_over
from cocoon.errors import RequestError
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.wire.messages import AnswerChunk, AnswerError, AnswerPart

FAILS_OVER = [
    (503, "proxy_unavailable"),  # closing, chain not ready
    (503, "no_capacity"),  # overloaded
    (502, "upstream_error"),  # every worker failed, or the connection was lost
    (500, "internal_error"),
    (404, "model_not_found"),  # no worker behind that proxy now
    (404, "endpoint_not_served"),
]
STAYS = [
    (400, "invalid_request"),
    (402, "insufficient_funds"),
    (413, "request_too_large"),
    (422, "invalid_request"),
    (504, "timeout"),  # the deadline is spent
    (503, "e2e_reroute"),  # resealed by the end-to-end answer, not failed over
    (404, "receipt_not_found"),
]


@pytest.mark.parametrize(("status", "code"), FAILS_OVER)
def test_a_proxys_own_failure_before_the_answer_fails_over(status: int, code: str) -> None:
    assert fails_over(AnswerError(1, status, code, "why"))


@pytest.mark.parametrize(("status", "code"), STAYS)
def test_a_refusal_of_the_request_itself_does_not(status: int, code: str) -> None:
    assert not fails_over(AnswerError(1, status, code, "why"))


def test_an_answer_that_began_never_fails_over_one_that_ended_empty_does() -> None:
    assert not fails_over(head())
    assert not fails_over(AnswerChunk(1, b"data: {}\n\n"))
    assert fails_over(None)


def test_only_proxies_listing_the_model_are_picked_the_least_loaded_first() -> None:
    choice = ProxyChoice()
    choice.listed({"a": ["x", "y"], "b": ["x"], "c": ["y"]}, now=0.0)
    assert choice.pick("x", {"a": 2, "b": 1, "c": 0}, now=0.0) == "b"
    assert choice.pick("y", {"a": 2, "b": 0, "c": 1}, now=0.0) == "c"
    assert choice.pick("x", {"a": 2, "b": 1, "c": 0}, now=0.0, tried=frozenset({"b"})) == "a"
    assert choice.pick("x", {"a": 0, "b": 0}, now=0.0, tried=frozenset({"a", "b"})) is None
    # Nobody lists it: one proxy answers (its own 404); never a second one.
    assert choice.pick("z", {"a": 0}, now=0.0) == "a"
    assert choice.pick("z", {"a": 0, "b": 0}, now=0.0, tried=frozenset({"a"})) is None


def test_ties_go_round_and_recent_failures_weigh_for_a_while() -> None:
    choice = ProxyChoice()
    choice.listed({"a": ["x"], "b": ["x"]}, now=0.0)
    picks = [choice.pick("x", {"a": 0, "b": 0}, now=0.0) for _ in range(4)]
    assert sorted(picks) == ["a", "a", "b", "b"]  # type: ignore[type-var]
    choice.failed("a", now=10.0)
    assert choice.pick("x", {"a": 0, "b": ERROR_PENALTY - 1}, now=11.0) == "b"
    assert choice.pick("x", {"a": 0, "b": ERROR_PENALTY + 1}, now=11.0) == "a"  # not shut out
    assert choice.pick("x", {"a": 0, "b": 1}, now=10.0 + ERROR_WINDOW_S) == "a"  # forgotten


def test_a_list_is_stale_after_its_ttl_and_a_silent_proxy_keeps_its_last_list() -> None:
    choice = ProxyChoice()
    assert choice.stale(0.0)
    choice.listed({"a": ["x"]}, now=0.0)
    assert not choice.stale(1.0) and choice.stale(10.0)
    choice.listed({"b": ["y"]}, now=10.0)
    assert choice.serving("x", ["a", "b"]) == ["a"] and choice.serving("y", ["a", "b"]) == ["b"]


class Scripted:
    """A proxy connection answering every request with ``first`` (then an end, if it began)."""

    def __init__(self, first: AnswerPart) -> None:
        self.first = first
        self.active_streams = 0
        self.sent = 0

    async def run_query(self, query: Any) -> Any:
        self.sent += 1
        first = self.first

        class Stream:
            request_id = query.request_id

            async def __aiter__(self) -> Any:
                yield first

            def cancel(self, reason: str = "") -> bool:
                return True

        return Stream()


def pool_of(a: AnswerPart, b: AnswerPart) -> tuple[ProxyPool, Scripted, Scripted]:
    proxy_pool = ProxyPool(["a", "b"], make_identity("", "fake"), make_policy("fake"))
    conns = Scripted(a), Scripted(b)
    proxy_pool.links.connections.update({"a": conns[0], "b": conns[1]})  # type: ignore[dict-item]
    proxy_pool.choice.listed({"a": [MODEL], "b": [MODEL]}, proxy_pool.clock.monotonic())
    proxy_pool.choice.sent["b"] = 1  # "a" first
    return proxy_pool, *conns


async def first_of(answer: Any) -> AnswerPart | None:
    return await anext(aiter(answer), None)


async def test_the_pool_sends_a_failed_request_to_the_other_proxy() -> None:
    proxy_pool, a, b = pool_of(AnswerError(1, 503, "proxy_unavailable", "closing"), head())
    answer = await proxy_pool.run(chat(), 7)
    assert isinstance(answer, PrimedAnswer) and answer.proxy == "b"
    assert await first_of(answer) == head() and (a.sent, b.sent) == (1, 1)
    assert proxy_pool.choice.failovers == 1 and proxy_pool.choice.failures["a"] == 1


@pytest.mark.parametrize(("status", "code"), [(402, "insufficient_funds"), (400, "invalid_request")])
async def test_the_pool_hands_a_refusal_to_the_app_without_trying_elsewhere(status: int, code: str) -> None:
    refusal = AnswerError(1, status, code, "no")
    proxy_pool, a, b = pool_of(refusal, head())
    answer = await proxy_pool.run(chat(), 7)
    assert await first_of(answer) == refusal and (a.sent, b.sent) == (1, 0)
    assert proxy_pool.choice.failovers == 0


async def test_when_every_proxy_fails_the_app_gets_the_last_error() -> None:
    last = AnswerError(1, 502, "upstream_error", "every worker failed")
    proxy_pool, a, b = pool_of(AnswerError(1, 503, "no_capacity", "busy"), last)
    assert await first_of(await proxy_pool.run(chat(), 7)) == last and (a.sent, b.sent) == (1, 1)


@pytest.mark.parametrize(
    ("status", "code", "fails"),
    [(503, "e2e_unavailable", True), (404, "model_not_found", True), (400, "x", False)],
)
async def test_a_refusal_before_sending_fails_over_when_it_is_the_proxys(
    status: int, code: str, fails: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_pool, _, _ = pool_of(head(), head())
    attempts: list[str] = []
    refusal = RequestError("refused by proxy a", status=status, code=code)

    async def attempt(address: str, conn: Any, request: Any, request_id: int) -> Any:
        attempts.append(address)
        if address == "a":
            raise refusal
        return await ProxyPool._attempt(proxy_pool, address, conn, request, request_id)

    monkeypatch.setattr(proxy_pool, "_attempt", attempt)
    if fails:
        answer = await proxy_pool.run(chat(), 7)
        assert isinstance(answer, PrimedAnswer) and answer.proxy == "b" and attempts == ["a", "b"]
    else:
        with pytest.raises(RequestError) as raised:
            await proxy_pool.run(chat(), 7)
        assert raised.value is refusal and attempts == ["a"]
