"""ProxyLinks keeps one connection per listed proxy and follows changes of the list at run time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from cocoon.attestation.peer import AttestedPeer
from cocoon.net.listener import Listener
from cocoon.net.proxy_links import ProxyLinks
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.tls import AttestedStream
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.node.root import proxies_follower
from cocoon.wire.messages import Role
from cocoon.wire.session import EndpointConfig
from waiting import wait_until


@dataclass
class FakeProxy:
    """A listener that accepts client sessions and counts them."""

    listener: Listener
    sessions: int = 0
    live: set[RpcConnection] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener.port}"


@contextlib.asynccontextmanager
async def fake_proxy() -> AsyncIterator[FakeProxy]:
    identity = make_identity("", "fake")
    proxy: FakeProxy

    async def handle(stream: AttestedStream) -> None:
        config = EndpointConfig(Role.PROXY, "proxy", accept_roles=frozenset({Role.CLIENT}))
        conn = await RpcConnection.open(stream, config, initiator=False)
        proxy.sessions += 1
        proxy.live.add(conn)
        try:
            await conn.wait_closed()
        finally:
            proxy.live.discard(conn)

    proxy = FakeProxy(Listener("127.0.0.1", 0, identity, make_policy("any"), handle))
    await proxy.listener.start()
    try:
        yield proxy
    finally:
        await proxy.listener.aclose(0.5)


class Session:
    def __init__(self, opened: list[str], address: str) -> None:
        self.handlers = Handlers()
        self._opened = opened
        self._address = address

    async def opened(self, conn: RpcConnection, peer: AttestedPeer) -> None:
        self._opened.append(self._address)


async def test_links_follow_the_list() -> None:
    opened: list[str] = []
    async with fake_proxy() as a, fake_proxy() as b:
        links = ProxyLinks(
            make_identity("", "fake"),
            make_policy("fake"),
            EndpointConfig(Role.CLIENT, "client", accept_roles=frozenset({Role.PROXY})),
            lambda address: Session(opened, address),
            role="client",
        )
        runner = asyncio.create_task(links.run([a.address]))
        try:
            await wait_until(lambda: set(links.connections) == {a.address} and a.sessions == 1)
            links.update([a.address, b.address])
            await wait_until(lambda: set(links.connections) == {a.address, b.address})
            links.update([b.address])  # a is no longer listed: its connection is closed
            await wait_until(lambda: set(links.connections) == {b.address} and not a.live)
            assert opened == [a.address, b.address]
            assert (a.sessions, b.sessions) == (1, 1)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        assert not links.connections


async def test_a_dropped_proxy_comes_back_and_a_given_up_one_does_not() -> None:
    opened: list[str] = []
    given_up: set[str] = set()
    async with fake_proxy() as a:
        links = ProxyLinks(
            make_identity("", "fake"),
            make_policy("fake"),
            EndpointConfig(Role.CLIENT, "client", accept_roles=frozenset({Role.PROXY})),
            lambda address: Session(opened, address),
            give_up=lambda address: address in given_up,
        )
        runner = asyncio.create_task(links.run([a.address]))
        try:
            await wait_until(lambda: a.sessions == 1 and bool(a.live))
            await next(iter(a.live)).aclose("proxy restarting")
            await wait_until(lambda: a.sessions == 2 and bool(links.connections))
            assert links.keeping(a.address)
            given_up.add(a.address)
            await next(iter(a.live)).aclose("proxy misbehaved")
            # a clean end is retried at once: a loop that ended has given up for good
            await wait_until(lambda: not links.keeping(a.address), what="the link to a gave up")
            assert a.sessions == 2 and not links.connections
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


async def test_close_all_reconnects_and_restart_revives_a_given_up_link() -> None:
    opened: list[str] = []
    given_up: set[str] = set()
    async with fake_proxy() as a:
        links = ProxyLinks(
            make_identity("", "fake"),
            make_policy("fake"),
            EndpointConfig(Role.CLIENT, "client", accept_roles=frozenset({Role.PROXY})),
            lambda address: Session(opened, address),
            give_up=lambda address: address in given_up,
        )
        runner = asyncio.create_task(links.run([a.address]))
        try:
            await wait_until(lambda: a.sessions == 1 and bool(links.connections))
            assert links.close_all("params moved") == 1  # e.g. the root's params_version rose
            await wait_until(lambda: a.sessions == 2 and bool(links.connections), what="reconnected")
            given_up.add(a.address)  # e.g. its contract is closing
            links.close_all("proxy closing")
            await wait_until(lambda: not links.keeping(a.address), what="the link to a gave up")
            links.restart()  # still given up on: the revived loop ends at once
            await asyncio.sleep(0.2)
            assert a.sessions == 2 and not links.keeping(a.address)
            given_up.clear()  # the next params version enables it again
            links.restart()
            await wait_until(lambda: a.sessions == 3 and bool(links.connections), what="revived")
            assert links.addresses == [a.address]
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


def test_registry_follower_keeps_proxies_when_the_root_lists_none() -> None:
    updates: list[list[str]] = []

    class Links:
        def update(self, addresses: list[str]) -> None:
            updates.append(list(addresses))

    class Snapshot:
        version = 7

        def __init__(self, endpoints: list[str]) -> None:
            self.endpoints = endpoints

        def proxy_endpoints(self, role: str) -> list[str]:
            assert role == "worker"
            return self.endpoints

    follow = proxies_follower(Links(), "worker")  # type: ignore[arg-type]
    follow(Snapshot(["127.0.0.1:1"]))  # type: ignore[arg-type]
    follow(Snapshot([]))  # type: ignore[arg-type]
    follow(Snapshot(["127.0.0.1:2"]))  # type: ignore[arg-type]
    assert updates == [["127.0.0.1:1"], ["127.0.0.1:2"]]


@pytest.mark.parametrize("bad", ["nohost", "host:notaport", ":1"])
def test_bad_address_is_refused_at_once(bad: str) -> None:
    from cocoon.errors import ConfigError

    links = ProxyLinks(
        make_identity("", "fake"),
        make_policy("fake"),
        EndpointConfig(Role.CLIENT, "client"),
        lambda address: Session([], address),
    )
    with pytest.raises(ConfigError):
        links.update([bad])
