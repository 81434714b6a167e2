"""Service level: the proxy's re-issued certificate serves new connections; live ones keep working."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from pathlib import Path

from servicenet import service_net, wait_for

from cocoon.attestation.statement import verify_statement
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.net.rpc import RpcConnection
from cocoon.net.tls import connect_attested
from cocoon.node.identity import make_identity, refresh_certificates
from cocoon.node.policy import make_policy
from cocoon.wire.headers import WORKER_KEY, WORKER_STATEMENT
from cocoon.wire.messages import AnswerEnd, AnswerHead, AnswerPart, Role, RunQuery
from cocoon.wire.session import EndpointConfig

BODY = json.dumps({"model": FAKE_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})


async def _client(port: int) -> tuple[RpcConnection, bytes]:
    """A client connection to the proxy and the fingerprint of the certificate the proxy presented."""
    stream = await connect_attested("127.0.0.1", port, make_identity("", "fake"), make_policy("fake"))
    config = EndpointConfig(Role.CLIENT, "test", accept_roles=frozenset({Role.PROXY}))
    return await RpcConnection.open(stream, config, initiator=True), stream.peer.certificate_sha256


async def _parts(conn: RpcConnection) -> list[AnswerPart]:
    query = RunQuery(conn.new_request_id(), FAKE_MODEL, BODY.encode(), 10_000, 4, 10_000)
    async with asyncio.timeout(10):
        async with await conn.run_query(query) as answer:
            return [part async for part in answer]


async def _ask(conn: RpcConnection) -> AnswerEnd:
    parts = await _parts(conn)
    assert isinstance(parts[-1], AnswerEnd), parts[-1]
    return parts[-1]


async def test_reissued_certificate_is_used_for_new_connections_while_old_ones_keep_working(
    tmp_path: Path,
) -> None:
    async with service_net(tmp_path) as net:
        await wait_for(lambda: any(link.state for link in net.proxy.workers))
        old_conn, old_cert = await _client(net.proxy.client_listener.port)
        assert old_cert == net.proxy.identity.certificate.fingerprint

        net.proxy.identity.refresh_after = 0.0  # due at once: the service's refresh loop re-issues
        refresh = asyncio.create_task(refresh_certificates(net.proxy.identity, check_every_s=0.01))
        try:
            await wait_for(lambda: net.proxy.identity.certificate.fingerprint != old_cert)
        finally:
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresh

        new_conn, new_cert = await _client(net.proxy.client_listener.port)
        async with old_conn, new_conn:
            assert new_cert == net.proxy.identity.certificate.fingerprint != old_cert
            # Both the pre-refresh client connection and the pre-refresh worker connection still serve.
            assert (await _ask(old_conn)).usage.completion_tokens > 0
            assert (await _ask(new_conn)).usage.completion_tokens > 0
            assert net.worker.links.connects == 1


async def test_a_worker_head_carries_its_current_statement_after_a_reissue(tmp_path: Path) -> None:
    async with service_net(tmp_path) as net:
        await wait_for(lambda: any(link.state for link in net.proxy.workers))
        (link,) = list(net.proxy.workers)
        key = net.worker.identity.public_key
        assert link.attested is not None
        at_handshake = verify_statement(link.attested.statement, key).issued_at
        net.worker.identity.issue(at_handshake + 3600)  # the hourly re-issue, on the live connection
        conn, _ = await _client(net.proxy.client_listener.port)
        async with conn:
            head = (await _parts(conn))[0]
        assert isinstance(head, AnswerHead)
        headers = dict(head.headers)
        assert headers[WORKER_KEY] == key.hex()  # the key the proxy attested
        statement = verify_statement(base64.b64decode(headers[WORKER_STATEMENT]), key)
        assert (statement.issued_at, statement.model_id) == (at_handshake + 3600, FAKE_MODEL)
        assert [name for name, _ in head.headers].count(WORKER_STATEMENT) == 1
