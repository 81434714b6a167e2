"""A client across two proxies: routed by the models each serves, balanced by load, failed over to the
other proxy before an answer begins and never after, each request charged by the proxy that served it.

Real proxies, workers and client daemon in one process (`two_proxies`), the official `openai` SDK as
the app; the engines are in-memory fakes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest
from two_proxies import HeldEngine, TwoProxies, two_proxies

from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from waiting import wait_until

X, Y = "model-x", "model-y"
WORDS = "one two three four"
E2E_MODES = ["off", "preferred"]  # plaintext, and sealed to the workers (the default)
ANSWER = "one two three four " * 2  # the fake engine echoes the prompt's words, 8 chunks


def engine(model: str = X, **config: Any) -> MemoryEngine:
    return MemoryEngine(FakeEngineConfig(model=model, **config))


async def ask(net: TwoProxies, model: str = X) -> tuple[str, dict[str, Any]]:
    """One whole chat completion: which proxy answered (its name) and the answer's JSON."""
    raw = await net.sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": WORDS}], max_tokens=16
    )
    body = json.loads(raw.content)
    return net.name_of(raw.headers["x-cocoon-proxy"]), body


async def ask_streamed(net: TwoProxies, model: str = X) -> tuple[str, str]:
    """One streamed chat completion: which proxy answered and the content the app read."""
    async with net.sdk.chat.completions.with_streaming_response.create(
        model=model, messages=[{"role": "user", "content": WORDS}], max_tokens=16, stream=True
    ) as response:
        proxy = net.name_of(response.headers["x-cocoon-proxy"])
        content = ""
        async for chunk in await response.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                content += chunk.choices[0].delta.content
    return proxy, content


def charged_per_proxy(answers: list[tuple[str, dict[str, Any]]]) -> Counter[str]:
    """The cost each proxy told the app, summed per proxy."""
    total: Counter[str] = Counter()
    for proxy, body in answers:
        total[proxy] += body["usage"]["total_cost"]
    return total


async def test_a_model_served_only_behind_b_always_goes_to_b_and_the_list_is_the_union(
    tmp_path: Path,
) -> None:
    async with two_proxies(tmp_path, {"A": [engine(Y)], "B": [engine(X)]}) as net:
        models = await net.sdk.models.list()
        assert sorted(m.id for m in models.data) == [X, Y]
        answers = [await ask(net, X) for _ in range(6)]
        assert [proxy for proxy, _ in answers] == ["B"] * 6
        assert all(body["choices"][0]["message"]["content"] == ANSWER for _, body in answers)
        assert all("receipt" in body for _, body in answers)  # verified, signed by B's worker
        assert [proxy for proxy, _ in [await ask(net, Y) for _ in range(3)]] == ["A"] * 3
        # Each proxy charged exactly what it served, on its own channel.
        assert net.charged_nano("B") == charged_per_proxy(answers)["B"] > 0
        assert net.proxies["A"].service.router.counters.refused_model == 0


async def test_requests_spread_over_both_proxies_and_each_ledger_charges_what_it_served(
    tmp_path: Path,
) -> None:
    slow = {"delay_ms": 20.0}  # requests overlap: the load decides
    async with two_proxies(tmp_path, {"A": [engine(**slow)], "B": [engine(**slow)]}) as net:
        answers = await asyncio.gather(*(ask(net) for _ in range(8)))
        served = Counter(proxy for proxy, _ in answers)
        assert served["A"] >= 3 and served["B"] >= 3, served
        costs = charged_per_proxy(answers)
        assert net.charged_nano("A") == costs["A"] and net.charged_nano("B") == costs["B"]
        for name in "AB":
            assert net.proxies[name].service.router.counters.succeeded == served[name]


@pytest.mark.parametrize("e2e", E2E_MODES)
async def test_a_proxy_going_down_before_the_answers_begin_fails_them_over_to_the_other(
    tmp_path: Path, e2e: str
) -> None:
    held = HeldEngine(FakeEngineConfig(model=X))
    async with two_proxies(tmp_path, {"A": [held], "B": [engine()]}, client_settings={"e2e": e2e}) as net:
        requests = [asyncio.create_task(ask_streamed(net)) for _ in range(4)]
        at_b = net.proxies["B"].service.router.counters
        await wait_until(lambda: held.held + at_b.routed == 4, 10, what="every request at A or B")
        assert held.held >= 1  # spread by load: some wait behind A
        await net.stop("A")
        answers = await asyncio.gather(*requests)  # not one error reaches the app
        assert answers == [("B", ANSWER)] * 4
        pool = net.client.service
        assert pool.choice.failovers >= 1 and pool.choice.failures[net.addresses["A"]] >= 1
        assert net.charged_nano("A") == 0  # A's reservations were released, nothing charged there
        assert net.proxies["B"].service.router.counters.succeeded == 4
        assert net.charged_nano("B") > 0


@pytest.mark.parametrize("e2e", E2E_MODES)
async def test_a_proxy_whose_workers_fail_before_the_answer_sends_every_request_to_the_other(
    tmp_path: Path, e2e: str
) -> None:
    broken = engine()
    async with two_proxies(tmp_path, {"A": [broken], "B": [engine()]}, client_settings={"e2e": e2e}) as net:
        # From now on A's only worker fails every call (A still lists the model): A answers a 5xx.
        broken.config = FakeEngineConfig(model=X, fail_status=503)
        calls = len(broken.calls)
        pool = net.client.service
        pool.choice.sent[net.addresses["B"]] += 1  # the first request goes to A (ties go to the less used)
        answers = [await ask(net) for _ in range(6)]
        assert [proxy for proxy, _ in answers] == ["B"] * 6  # not one error reached the app
        assert len(broken.calls) > calls and pool.choice.failovers == 1
        assert net.proxies["A"].service.router.counters.routed == 1  # one request reached A, no more
        # After its failure A weighs as a busy proxy: B alone took the rest.
        assert pool.choice.sent[net.addresses["A"]] == 1
        assert net.charged_nano("A") == 0
        assert net.charged_nano("B") == charged_per_proxy(answers)["B"] > 0
        assert net.proxies["B"].service.router.counters.succeeded == 6


async def test_a_failure_after_the_answer_began_is_not_sent_again(tmp_path: Path) -> None:
    # Both engines stall after two chunks: whichever proxy gets the request, the app has read from it.
    a, b = engine(hang_after=2), engine(hang_after=2)
    async with two_proxies(tmp_path, {"A": [a], "B": [b]}) as net:
        stream = await net.sdk.chat.completions.create(
            model=X, messages=[{"role": "user", "content": WORDS}], max_tokens=16, stream=True
        )
        contents: list[str] = []
        with pytest.raises(openai.APIError) as failed:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    contents.append(chunk.choices[0].delta.content)
                    if len(contents) == 2:
                        [name] = [n for n, e in (("A", a), ("B", b)) if e.calls]
                        await net.stop(name)
        assert contents == ["one ", "two "]  # what was delivered, then the error, nothing twice
        assert failed.value.code == "upstream_error"
        assert len(a.calls) + len(b.calls) == 1  # never sent to the other proxy
        assert net.client.service.choice.failovers == 0
