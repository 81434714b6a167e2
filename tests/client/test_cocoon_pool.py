"""`ProxyPool` picks among our proxy connections and COCOON-protocol links by load, on one path."""

from __future__ import annotations

from typing import Any

import pytest
from client_answers import MODEL, chat, head

from cocoon.client.backend import Privacy
from cocoon.client.cocoon_auth import CocoonAccount
from cocoon.client.cocoon_proxy import CocoonLink, CocoonProxies
from cocoon.client.failover import PrimedAnswer
from cocoon.client.network import ProxyPool
from cocoon.errors import RequestError
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.roles import LOCAL_OWNER


class Stub:
    """A connection or link that only says how busy it is, and records what it was asked to run."""

    def __init__(self, active: int) -> None:
        self.active_streams = active
        self.ran: list[tuple[Any, ...]] = []

    async def run(self, request: Any, request_id: int, privacy: Privacy) -> Any:
        self.ran.append((request_id, privacy))
        return Answered()


class Answered:
    """An answer that begins (its head), so the pool hands it on."""

    async def __aiter__(self) -> Any:
        yield head()

    async def cancel(self, reason: str) -> None:
        return None


class CocoonStub(CocoonLink):
    """A COCOON link (the pool tells them apart by type) with a given load."""

    def __init__(self, active: int) -> None:
        self.stub = Stub(active)

    @property
    def active_streams(self) -> int:
        return self.stub.active_streams

    async def run(self, request: Any, request_id: int, privacy: Privacy) -> Any:
        return await self.stub.run(request, request_id, privacy)


def pool(ours: dict[str, int], cocoon: dict[str, int]) -> ProxyPool:
    identity = make_identity("", "fake")
    links = CocoonProxies(list(cocoon), identity, CocoonAccount(LOCAL_OWNER))
    proxy_pool = ProxyPool(list(ours), identity, make_policy("fake"), cocoon=links)
    proxy_pool.links.connections.update({a: Stub(n) for a, n in ours.items()})  # type: ignore[misc]
    links.links.update({a: CocoonStub(n) for a, n in cocoon.items()})
    # Every link serves MODEL (as its model list would say): the pick is by load alone.
    proxy_pool.choice.listed({a: [MODEL] for a in (*ours, *cocoon)}, proxy_pool.clock.monotonic())
    return proxy_pool


async def pick(proxy_pool: ProxyPool, *, cocoon: bool = True) -> str:
    picked = await proxy_pool._pick(MODEL, cocoon=cocoon)
    assert picked is not None
    return picked[0]


async def test_the_least_busy_link_is_picked_whatever_its_protocol() -> None:
    assert await pick(pool({"ours:1": 3}, {"cocoon:1": 1})) == "cocoon:1"
    assert await pick(pool({"ours:1": 0}, {"cocoon:1": 1})) == "ours:1"


async def test_cocoon_links_are_left_out_where_only_ours_can_serve() -> None:
    assert await pick(pool({"ours:1": 5}, {"cocoon:1": 0}), cocoon=False) == "ours:1"
    with pytest.raises(RequestError) as refused:
        await pick(pool({}, {"cocoon:1": 0}), cocoon=False)
    assert "cannot carry end-to-end encrypted requests" in refused.value.message


async def test_a_request_goes_through_the_picked_cocoon_link_in_plaintext() -> None:
    proxy_pool = pool({"ours:1": 2}, {"cocoon:1": 0})
    answer = await proxy_pool.run(chat(), 7)
    assert isinstance(answer, PrimedAnswer) and answer.proxy == "cocoon:1"
    assert isinstance(answer.answer, Answered)
    link = proxy_pool.cocoon.links["cocoon:1"]  # type: ignore[union-attr]
    assert isinstance(link, CocoonStub) and link.stub.ran == [(7, Privacy.PLAINTEXT)]
    assert proxy_pool.links.connections["ours:1"].ran == []  # type: ignore[attr-defined]


async def test_nothing_connected_names_every_address_and_error() -> None:
    proxy_pool = pool({}, {})
    proxy_pool.proxies = ["ours:1"]
    assert proxy_pool.cocoon is not None
    proxy_pool.cocoon.addresses = ["cocoon:9"]
    proxy_pool.cocoon.last_error["cocoon:9"] = "cannot connect: refused"
    with pytest.raises(RequestError) as refused:
        await pick(proxy_pool)
    assert "ours:1, cocoon:9" in refused.value.message and "refused" in refused.value.message
