"""A COCOON-protocol test client for the proxy's COCOON port, and a proxy + worker + fake engine to
point it at (`cocoon_net`, also the interop tests' network; `chain_cocoon_net` on a local chain):
real loopback TCP, real proof of work (at a low difficulty) and TLS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servicenet import ServiceNet, service_net
from test_onchain import World

from cocoon.net.cocoon_conn import connect_cocoon
from cocoon.net.cocoon_session import CocoonConnection
from cocoon.node.identity import make_identity
from cocoon.proxy.ledger import Ledger
from cocoon.tl.base import TLObject
from cocoon.tl.codec import decode_as, encode
from cocoon.tl.types import (
    ClientConnectedToProxy,
    ClientConnectToProxy,
    ClientParams,
    ClientQueryAnswerErrorEx,
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    ClientRunQueryEx,
    HttpHeader,
    HttpRequest,
    HttpResponse,
    ProxyClientRequestPayment,
)
from waiting import wait_until

DIFFICULTY = 4
OWNER = "0:" + "11" * 32


@dataclass
class Answer:
    """One request's packets as the client read them: the head, the body parts, how it ended."""

    head: HttpResponse | None = None
    body: bytes = b""
    parts: int = 0
    final: ClientQueryAnswerEx | ClientQueryAnswerPartEx | ClientQueryAnswerErrorEx | None = None
    payment: ProxyClientRequestPayment | None = None

    @property
    def error(self) -> ClientQueryAnswerErrorEx | None:
        return self.final if isinstance(self.final, ClientQueryAnswerErrorEx) else None

    @property
    def tokens(self) -> int:
        assert self.final is not None and self.final.final_info is not None
        return self.final.final_info.tokens_used.total_tokens_used

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CocoonTestClient:
    conn: CocoonConnection
    client_id: str
    """The key of the client's certificate, hex: its account on the proxy."""
    packets: asyncio.Queue[TLObject] = field(default_factory=asyncio.Queue)

    @classmethod
    async def connect(cls, port: int) -> CocoonTestClient:
        packets: asyncio.Queue[TLObject] = asyncio.Queue()

        async def on_packet(obj: TLObject) -> None:
            await packets.put(obj)

        identity = make_identity("", "fake")
        conn = await connect_cocoon("127.0.0.1", port, identity, on_packet=on_packet, handshake_timeout=20)
        return cls(conn, identity.public_key.hex(), packets)

    async def hello(self, owner: str = OWNER, **params: Any) -> ClientConnectedToProxy:
        fields: dict[str, Any] = {"is_test": True, "min_proto_version": 1, "max_proto_version": 4} | params
        answer = await self.conn.query(ClientConnectToProxy(ClientParams(owner, **fields), 0))
        assert isinstance(answer, ClientConnectedToProxy)
        return answer

    async def send(self, request_id: bytes, body: dict[str, Any] | bytes, **fields: Any) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        http = HttpRequest(
            method=fields.pop("method", "POST"),
            url=fields.pop("url", "/v1/chat/completions"),
            http_version="HTTP/1.1",
            headers=(HttpHeader("Content-Type", "application/json"),),
            payload=payload,
        )
        model = body["model"] if isinstance(body, dict) else "m"
        query: dict[str, Any] = {
            "model_name": model,
            "query": encode(http),
            "max_coefficient": 4000,
            "max_tokens": 100,
            "timeout": 30.0,
            "request_id": request_id,
            "min_config_version": 0,
        } | fields
        await self.conn.send_packet(ClientRunQueryEx(**query))

    async def answer(self, request_id: bytes, *, with_payment: bool = True) -> Answer:
        """Read the packets of one request until its end (and its payment push when it succeeded)."""
        got = Answer()
        async with asyncio.timeout(20):
            while got.final is None or (with_payment and got.error is None and got.payment is None):
                packet = await self.packets.get()
                if isinstance(packet, ProxyClientRequestPayment):
                    if packet.request_id == request_id:
                        got.payment = packet
                    continue
                assert isinstance(
                    packet, ClientQueryAnswerEx | ClientQueryAnswerPartEx | ClientQueryAnswerErrorEx
                )
                assert packet.request_id == request_id
                if isinstance(packet, ClientQueryAnswerEx):
                    got.head = decode_as(packet.answer, HttpResponse)
                    got.body += got.head.payload
                elif isinstance(packet, ClientQueryAnswerPartEx):
                    got.body += packet.answer
                    got.parts += 1
                if packet.final_info is not None or isinstance(packet, ClientQueryAnswerErrorEx):
                    got.final = packet
        return got

    async def ask(self, request_id: bytes, body: dict[str, Any], **fields: Any) -> Answer:
        await self.send(request_id, body, **fields)
        return await self.answer(request_id)

    async def close(self) -> None:
        await self.conn.aclose("test done")


@dataclass
class CocoonNet(ServiceNet):
    """`servicenet.ServiceNet` with the proxy's COCOON port on and the worker registered."""

    @property
    def port(self) -> int:
        """The proxy's COCOON client port."""
        assert self.proxy.cocoon_port is not None
        return self.proxy.cocoon_port.port

    @property
    def engine_url(self) -> str:
        return self.engine.url

    def charged_tokens(self, client: CocoonTestClient) -> int:
        return self.proxy.ledger.client(client.client_id).charged_tokens


@asynccontextmanager
async def cocoon_net(tmp_path: Path, **config: Any) -> AsyncIterator[CocoonNet]:
    """A proxy (COCOON port at a low PoW difficulty, off-chain credit unless ``chain``: see
    `servicenet.service_net` for ``chain``, ``ledger`` and ``config``) with one worker on the fake
    engine, its model registered."""
    async with service_net(tmp_path, **({"cocoon_pow_difficulty": DIFFICULTY} | config)) as net:
        proxy = net.proxy
        await wait_until(lambda: len(proxy.workers.candidates()) == 1, 20, what="the worker registered")
        yield CocoonNet(net.proxy, net.worker, net.engine)


@asynccontextmanager
async def chain_cocoon_net(tmp_path: Path, **config: Any) -> AsyncIterator[tuple[World, CocoonNet]]:
    """`cocoon_net` settling on `test_onchain.World`'s in-process local chain (root price 20, fee 19;
    no off-chain credit unless ``config`` says so); the proxy's `ProxySettlement` is ``proxy.chain``.
    Nothing ticks the settlement: a test that needs its chain reader runs ``tick()`` itself."""
    world = World(tmp_path)
    ledger = Ledger(world.db)
    settlement = world.settlement(ledger)
    await settlement.start()
    await settlement.wait_ready(5)
    settings = {"local_client_credit_nano": 0} | config
    async with cocoon_net(tmp_path, chain=settlement, ledger=ledger, **settings) as net:
        yield world, net
