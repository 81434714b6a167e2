"""The proxy's COCOON client port without a chain (off-chain credit), driven by a COCOON-protocol client
over real loopback TCP, proof of work and TLS: handshake, authorization, model list, answers whole and
streamed with exact charges, errors, protocol violations."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import aiohttp
import pytest
from cocoon_client import DIFFICULTY, CocoonNet, CocoonTestClient, cocoon_net

from cocoon.errors import ConnectionClosedError, RemoteQueryError
from cocoon.payments.pricing import adjusted_tokens
from cocoon.proxy.cocoon_port import cocoon_port_of
from cocoon.tl import pow as tl_pow
from cocoon.tl.frames import encode_frame
from cocoon.tl.types import (
    ClientAuthorizationWithProxyFailed,
    ClientAuthorizationWithProxySuccess,
    ClientAuthorizeWithProxyLong,
    ClientAuthorizeWithProxyShort,
    ClientGetWorkerTypesV2,
    ClientPaymentStatus,
    ClientProxyConnectionAuthShort,
    ClientUpdatePaymentStatus,
    ClientWorkerTypesV2,
    ProxySignedPaymentEmpty,
    TcpPing,
)
from cocoon.usage import Usage
from waiting import wait_until

MODEL = "fake-model"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "tell me a short story"}], "max_tokens": 20}


def rid(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.fixture
async def net(tmp_path: Path) -> CocoonNet:  # type: ignore[misc]
    async with cocoon_net(tmp_path) as running:
        yield running


async def ready_client(net: CocoonNet, *, short: bool = False) -> CocoonTestClient:
    """A client authorized as in the reference's test mode: the empty secret (short) or long at once."""
    client = await CocoonTestClient.connect(net.port)
    hello = await client.hello()
    assert isinstance(hello.auth, ClientProxyConnectionAuthShort)
    assert hello.auth.secret_hash == hashlib.sha256(b"").digest() and hello.auth.nonce == 0
    answer = await client.conn.query(
        ClientAuthorizeWithProxyShort(b"") if short else ClientAuthorizeWithProxyLong()
    )
    assert isinstance(answer, ClientAuthorizationWithProxySuccess)
    return client


def expected_charge(net: CocoonNet, answer_json: dict[str, object]) -> int:
    usage = answer_json["usage"]
    assert isinstance(usage, dict)
    u = Usage(prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"])
    return adjusted_tokens(u, 1000, net.proxy.params).total


def test_the_port_defaults_next_to_the_client_port() -> None:
    assert cocoon_port_of(11002, None) == 11003
    assert cocoon_port_of(0, None) == 0  # tests: any free port
    assert cocoon_port_of(11002, -1) is None
    assert cocoon_port_of(11002, 12345) == 12345


async def test_handshake_models_and_a_whole_answer_charged_exactly(net: CocoonNet) -> None:
    client = await ready_client(net)
    types = await client.conn.query(ClientGetWorkerTypesV2())
    assert isinstance(types, ClientWorkerTypesV2)
    assert [t.name for t in types.types] == [MODEL]
    assert types.types[0].workers[0].coefficient == 1000

    before = net.charged_tokens(client)
    answer = await client.ask(rid(1), CHAT)
    assert answer.head is not None and answer.head.status_code == 200 and answer.error is None
    names = {h.name.lower() for h in answer.head.headers}
    assert "transfer-encoding" in names and "content-length" not in names
    body = answer.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    charged = net.charged_tokens(client) - before
    assert answer.tokens == charged == expected_charge(net, body) > 0
    used = answer.final.final_info.tokens_used  # type: ignore[union-attr]
    assert used.prompt_tokens_used + used.completion_tokens_used == charged
    assert answer.payment is not None and answer.payment.request_tokens == charged
    assert answer.payment.max_tokens == net.charged_tokens(client)

    status = await client.conn.query(ClientUpdatePaymentStatus())
    assert isinstance(status, ClientPaymentStatus) and isinstance(
        status.signed_payment, ProxySignedPaymentEmpty
    )
    assert status.max_tokens == status.db_tokens == net.charged_tokens(client)
    await client.close()


async def test_a_streamed_answer_passes_sse_through_and_is_charged_exactly(net: CocoonNet) -> None:
    client = await ready_client(net, short=True)
    before = net.charged_tokens(client)
    answer = await client.ask(rid(2), CHAT | {"stream": True})
    assert answer.head is not None and answer.head.status_code == 200 and answer.error is None
    assert answer.parts >= 2  # SSE bytes as the worker relayed them, then the final part
    events = [line for line in answer.body.decode().split("\n\n") if line.strip()]
    assert len(events) > 3 and events[-1] == "data: [DONE]"
    usage_chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    with_usage = [c for c in usage_chunks if c.get("usage")]
    assert with_usage, "the usage chunk passes through (the reference forces include_usage)"
    charged = net.charged_tokens(client) - before
    assert answer.tokens == charged == expected_charge(net, with_usage[-1]) > 0
    await client.close()


async def test_errors_are_answered_and_nothing_is_charged(net: CocoonNet) -> None:
    client = await ready_client(net)
    before = net.charged_tokens(client)
    unknown = await client.ask(rid(3), CHAT | {"model": "no-such-model"})
    assert unknown.error is not None and unknown.error.error_code == 621  # TON protoviolation: a 400
    assert unknown.error.error.startswith("model_not_found (HTTP 404)") and unknown.tokens == 0
    bad = await client.ask(rid(4), CHAT | {"temperature": "hot"})
    assert bad.error is not None and bad.error.error_code == 621 and "temperature" in bad.error.error
    wrong_path = await client.ask(rid(5), CHAT, url="/v1/embeddings")
    assert wrong_path.error is not None and "HTTP 404" in wrong_path.error.error
    get = await client.ask(rid(6), CHAT, method="GET")
    assert get.error is not None and "unsupported method" in get.error.error
    mismatch = await client.ask(rid(7), CHAT, model_name="other")
    assert mismatch.error is not None and "model_name" in mismatch.error.error
    encrypted = await client.ask(rid(8), CHAT, public_key=b"\x01" * 32)
    assert encrypted.error is not None and "encrypted" in encrypted.error.error
    timeout = await client.ask(rid(9), CHAT, timeout=float("nan"))
    assert timeout.error is not None and "timeout" in timeout.error.error
    assert net.charged_tokens(client) == before
    # the connection is still good
    assert (await client.ask(rid(10), CHAT)).error is None
    await client.close()


async def test_an_answer_failing_midway_reports_what_was_charged(net: CocoonNet) -> None:
    client = await ready_client(net)
    async with aiohttp.ClientSession() as http:
        config = {"drop_after": 3, "delay_ms": 5}
        async with http.post(f"{net.engine_url}/fake/config", json=config) as r:
            assert r.status == 200
    before = net.charged_tokens(client)
    answer = await client.ask(rid(11), CHAT | {"stream": True})
    assert answer.head is not None and answer.error is not None and answer.error.error_code == 602
    assert answer.body.startswith(b"data: ")  # part of the stream arrived before the failure
    assert answer.tokens == net.charged_tokens(client) - before  # the engine reported no usage: 0
    await client.close()


async def test_a_wrong_secret_fails_authorization_and_closes(net: CocoonNet) -> None:
    client = await CocoonTestClient.connect(net.port)
    await client.hello()
    answer = await client.conn.query(ClientAuthorizeWithProxyShort(b"guess"))
    assert isinstance(answer, ClientAuthorizationWithProxyFailed)
    assert "sha256 mismatch" in answer.error
    await asyncio.wait_for(client.conn.wait_closed(), 10)
    assert net.proxy.cocoon_port is not None and net.proxy.cocoon_port.violations == 1


async def test_requests_before_authorization_close_the_connection(net: CocoonNet) -> None:
    client = await CocoonTestClient.connect(net.port)
    with pytest.raises(RemoteQueryError, match="unexpected query"):
        await client.conn.query(ClientGetWorkerTypesV2())
    await asyncio.wait_for(client.conn.wait_closed(), 10)

    client = await CocoonTestClient.connect(net.port)
    await client.hello()
    await client.send(rid(1), CHAT)  # still authorizing: a request is a violation
    await asyncio.wait_for(client.conn.wait_closed(), 10)
    assert net.charged_tokens(client) == 0


async def test_handshake_refusals(net: CocoonNet) -> None:
    for params, match in (
        ({"is_test": None}, "too old client"),
        ({"min_proto_version": 5, "max_proto_version": 6}, "protocol version"),
        ({"min_proto_version": None, "max_proto_version": None}, "protocol version"),
    ):
        client = await CocoonTestClient.connect(net.port)
        with pytest.raises(RemoteQueryError, match=match):
            await client.hello(**params)
        await asyncio.wait_for(client.conn.wait_closed(), 10)
    client = await CocoonTestClient.connect(net.port)
    with pytest.raises(RemoteQueryError, match="owner address"):
        await client.hello("not-an-address")


async def test_the_typescript_sdks_protocol_range_is_served(net: CocoonNet) -> None:
    client = await CocoonTestClient.connect(net.port)
    hello = await client.hello(min_proto_version=0, max_proto_version=1, is_test=False)
    assert hello.params.proto_version == 1 and hello.params.is_test is False
    await client.close()


async def test_a_duplicate_request_id_in_flight_closes_and_an_unknown_packet_too(net: CocoonNet) -> None:
    client = await ready_client(net)
    slow = CHAT | {"max_tokens": 20}
    await client.send(rid(1), slow)
    await client.send(rid(1), slow)
    await asyncio.wait_for(client.conn.wait_closed(), 10)

    client = await ready_client(net)
    await client.conn.send_packet(TcpPing(id=1))  # a valid TL object that is no client packet
    await asyncio.wait_for(client.conn.wait_closed(), 10)


async def raw_session(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    challenge = tl_pow.decode_challenge(await reader.readexactly(tl_pow.CHALLENGE_SIZE))
    return reader, writer, challenge.salt


async def test_a_bad_proof_of_work_is_refused_and_counted(net: CocoonNet) -> None:
    port = net.proxy.cocoon_port
    assert port is not None
    reader, writer, salt = await raw_session(net.port)
    nonce = 0
    while tl_pow.check(salt, nonce, DIFFICULTY):  # a nonce that does NOT reach the difficulty
        nonce += 1
    writer.write(tl_pow.encode_answer(nonce))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the proxy
    writer.close()
    await wait_until(lambda: port.refused == 1, 10, what="the refusal counted")
    assert 'cocoon_proxy_cocoon_port_connections_total{outcome="refused"} 1' in net.proxy.prometheus()
    assert net.proxy.stats()["listeners"]["cocoon"]["refused"] == 1


async def test_bad_frames_close_the_connection_and_the_port_keeps_serving(net: CocoonNet) -> None:
    client = await ready_client(net)
    # a frame with a wrong seqno, written under the connection's TLS
    stream = client.conn._stream  # the raw stream, to break the framing
    stream.write(encode_frame(999, b"\x00" * 8))
    await stream.drain()
    await asyncio.wait_for(client.conn.wait_closed(), 10)
    with pytest.raises(ConnectionClosedError):
        await client.conn.query(ClientUpdatePaymentStatus())
    # garbage before TLS
    reader, writer, _ = await raw_session(net.port)
    writer.write(b"\xff" * 64)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    # still serving, nothing charged for any of it
    other = await ready_client(net)
    assert (await other.ask(rid(1), CHAT)).error is None
    assert net.charged_tokens(client) == 0
    await other.close()
