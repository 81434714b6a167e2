"""RpcConnection runs unchanged over an AttestedStream accepted by a Listener (the production stack)."""

from __future__ import annotations

import asyncio
import os
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.attestation.policy import FakePolicy
from cocoon.attestation.providers import FakeQuoteProvider
from cocoon.net.listener import Listener
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.tls import AttestedStream, connect_attested
from cocoon.wire.control import ControlBody, GetWorkerTypes, WorkerType, WorkerTypes
from cocoon.wire.messages import Role
from cocoon.wire.session import EndpointConfig

WAIT = 5.0


def _fake() -> NodeIdentity:
    return NodeIdentity.create(Ed25519PrivateKey.generate(), FakeQuoteProvider(), os.urandom, time.time())


async def test_rpc_query_over_attested_stream() -> None:
    seen_peers: list[bytes | None] = []

    async def answer(body: ControlBody) -> ControlBody:
        return WorkerTypes((WorkerType("qwen", workers=1, coefficient_min=1000, coefficient_max=1000),))

    async def serve(stream: AttestedStream) -> None:
        seen_peers.append(stream.peer.image_hash)
        conn = await RpcConnection.open(
            stream,
            EndpointConfig(Role.PROXY, "proxy-1"),
            initiator=False,
            handlers=Handlers(on_query=answer),
            handshake_timeout=WAIT,
        )
        await asyncio.wait_for(conn.wait_closed(), WAIT)

    async with Listener("127.0.0.1", 0, _fake(), FakePolicy(), serve) as listener:
        stream = await connect_attested(
            "127.0.0.1", listener.port, _fake(), FakePolicy(), handshake_timeout=WAIT
        )
        client = await RpcConnection.open(
            stream, EndpointConfig(Role.CLIENT, "client-1"), initiator=True, handshake_timeout=WAIT
        )
        reply = await client.query(GetWorkerTypes(), timeout=WAIT)
        assert isinstance(reply, WorkerTypes) and reply.types[0].model == "qwen"
        await client.aclose("done")
    assert seen_peers == [FAKE_IMAGE_HASH]
    assert stream.peer.image_hash == FAKE_IMAGE_HASH
