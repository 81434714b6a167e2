"""Service level: the completion budget a client declares in `RunQuery.max_tokens` is checked where it
enters (the proxy) and enforced where tokens are made (the worker), so a client that lies about it, or
sends a body asking for more choices than it reserved, never gets an unpaid token.

A raw client connection stands in for a hostile client daemon: it sends any `RunQuery` it likes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from servicenet import ServiceNet, service_net, wait_for

from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.net.rpc import RpcConnection
from cocoon.net.tls import connect_attested
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.payments.params import DEFAULT_PARAMS
from cocoon.payments.pricing import adjusted_tokens
from cocoon.wire.messages import AnswerEnd, AnswerError, AnswerPart, Role, RunQuery
from cocoon.wire.session import EndpointConfig

MESSAGES = [{"role": "user", "content": "one two three"}]


def chat(**fields: object) -> bytes:
    return json.dumps({"model": FAKE_MODEL, "messages": MESSAGES, **fields}).encode()


async def _client(net: ServiceNet) -> RpcConnection:
    await wait_for(lambda: any(link.state for link in net.proxy.workers))
    port = net.proxy.client_listener.port
    stream = await connect_attested("127.0.0.1", port, make_identity("", "fake"), make_policy("fake"))
    config = EndpointConfig(Role.CLIENT, "hostile", accept_roles=frozenset({Role.PROXY}))
    return await RpcConnection.open(stream, config, initiator=True)


async def _ask(
    conn: RpcConnection, body: bytes, *, budget: int, max_coefficient: int = 1000
) -> list[AnswerPart]:
    query = RunQuery(conn.new_request_id(), FAKE_MODEL, body, max_coefficient, budget, 10_000)
    async with asyncio.timeout(10), await conn.run_query(query) as answer:
        return [part async for part in answer]


def _worker_counts(net: ServiceNet) -> tuple[int, int]:
    """(served, rejected) by the worker."""
    assert net.worker.server is not None
    return net.worker.server.counters.served, net.worker.server.counters.rejected


def _charged(net: ServiceNet) -> tuple[int, int]:
    """(nanoTON charged to every client, nanoTON earned by every worker) in the proxy's ledger."""
    clients = sum(c.charged_nano for c in net.proxy.ledger.clients())
    workers = sum(w.earned_nano for w in net.proxy.ledger.workers())
    return clients, workers


@pytest.mark.parametrize(
    ("budget", "max_coefficient", "phrase"),
    [
        (0, 1000, "max_tokens must be at least 1"),  # older workers read 0 as "no cap"
        (8, 10**9, "coefficient must be within"),  # beyond any coefficient: no reservation computes
    ],
)
async def test_a_query_no_reservation_can_be_made_for_is_a_400_at_the_proxy(
    tmp_path: Path, budget: int, max_coefficient: int, phrase: str
) -> None:
    async with service_net(tmp_path) as net:
        async with await _client(net) as conn:
            parts = await _ask(conn, chat(max_tokens=8), budget=budget, max_coefficient=max_coefficient)
        [error] = parts
        assert isinstance(error, AnswerError)
        assert (error.status, error.code) == (400, "invalid_request_error") and phrase in error.message
        assert net.proxy.router.counters.refused_invalid == 1 and net.proxy.router.counters.routed == 0
        assert _worker_counts(net) == (0, 0)
        assert _charged(net) == (0, 0)


@pytest.mark.parametrize(
    ("n", "budget", "per_choice"),
    [
        (10, 4 * 10, 4),  # honest: max_tokens 4 for each of 10 choices
        (10, 25, 2),  # a lie: budget for 25 tokens, a body asking 10 x 4 = 40: ten choices of 2
    ],
)
async def test_every_token_served_is_within_the_budget_and_paid_in_full(
    tmp_path: Path, n: int, budget: int, per_choice: int
) -> None:
    async with service_net(tmp_path) as net:
        async with await _client(net) as conn:
            parts = await _ask(conn, chat(max_tokens=4, n=n), budget=budget)
        end = parts[-1]
        assert isinstance(end, AnswerEnd), end
        assert end.usage.completion_tokens == n * per_choice <= budget
        tokens = adjusted_tokens(end.usage, 1000, DEFAULT_PARAMS).total
        assert end.adjusted_tokens == tokens  # not capped by the reservation: every token is paid
        assert end.cost == tokens * DEFAULT_PARAMS.price_per_token
        assert _charged(net) == (end.cost, tokens * DEFAULT_PARAMS.worker_fee_per_token)


async def test_a_budget_too_small_for_every_choice_is_refused_by_the_worker(tmp_path: Path) -> None:
    async with service_net(tmp_path) as net:
        async with await _client(net) as conn:
            parts = await _ask(conn, chat(max_tokens=4, n=10), budget=9)  # not one token for each choice
        [error] = parts
        assert isinstance(error, AnswerError)
        assert error.status == 400 and "too few for the 10 choices" in error.message
        assert _worker_counts(net) == (0, 1)
        assert _charged(net) == (0, 0)
