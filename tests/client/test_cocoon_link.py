"""`CocoonLink`: requests out as ``client.runQueryEx`` packets, answers demultiplexed by request id,
payment pushes checked, a lost connection or a passed deadline ending every answer (no sockets)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from client_answers import chat_body

from cocoon.api.validation import validate_request
from cocoon.client import cocoon_proxy
from cocoon.client.backend import Privacy
from cocoon.client.cocoon_auth import Authorized
from cocoon.client.cocoon_proxy import CocoonLink
from cocoon.tl.codec import encode
from cocoon.tl.types import (
    ClientPaymentStatus,
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    ClientQueryFinalInfo,
    ClientRunQueryEx,
    ClientUpdatePaymentStatus,
    HttpResponse,
    ProxyClientRequestPayment,
    ProxyParams,
    ProxySignedPayment,
    ProxySignedPaymentEmpty,
    TokensUsed,
)
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead

FINAL = ClientQueryFinalInfo(tokens_used=TokensUsed(3, 0, 2, 0, 5))


class FakeConn:
    """What a `CocoonLink` uses of a `CocoonConnection`: packets out, close."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.closed = False
        self.close_reason: str | None = None

    async def send_packet(self, obj: Any) -> None:
        self.sent.append(obj)

    async def aclose(self, reason: str = "") -> None:
        self.closed, self.close_reason = True, reason


def link() -> tuple[CocoonLink, FakeConn]:
    conn = FakeConn()
    params = ProxyParams(b"\x01" * 32, "owner", "proxy-sc", True, 4)
    authorized = Authorized(params, "client-sc", "short", 4, ProxySignedPaymentEmpty(), 10, 100)
    return CocoonLink("proxy:1", conn, authorized), conn  # type: ignore[arg-type]


def request(**extra: Any) -> Any:
    return validate_request("/v1/chat/completions", json.dumps({**chat_body(stream=False), **extra}).encode())


def head(rid: bytes, body: bytes = b"") -> ClientQueryAnswerEx:
    return ClientQueryAnswerEx(rid, encode(HttpResponse("HTTP/1.1", 200, "OK", (), body)), None)


async def parts_of(answer: Any) -> list[Any]:
    return [part async for part in answer]


async def test_answers_reach_their_own_request_by_id() -> None:
    lk, conn = link()
    first = await lk.run(request(), 1, Privacy.PLAINTEXT)
    second = await lk.run(request(), 2, Privacy.PLAINTEXT)
    assert lk.active_streams == 2
    one, two = conn.sent
    assert isinstance(one, ClientRunQueryEx) and isinstance(two, ClientRunQueryEx)
    assert one.request_id != two.request_id and len(one.request_id) == 32
    await lk.on_packet(head(two.request_id, b'{"n":2}'))
    await lk.on_packet(head(b"\x09" * 32))  # no such request: ignored
    await lk.on_packet(head(one.request_id, b'{"n":1}'))
    await lk.on_packet(ClientQueryAnswerPartEx(two.request_id, b"", FINAL))
    await lk.on_packet(ClientQueryAnswerPartEx(one.request_id, b"", FINAL))
    got_one, got_two = await parts_of(first), await parts_of(second)
    assert [type(p) for p in got_one] == [AnswerHead, AnswerChunk, AnswerEnd]
    assert got_one[1].data == b'{"n":1}' and got_two[1].data == b'{"n":2}'
    assert got_one[0].request_id == 1 and got_two[0].request_id == 2
    assert got_one[2].adjusted_tokens == 5
    assert lk.active_streams == 0 and lk.requests == 2


async def test_a_lost_connection_and_a_passed_deadline_end_the_answers() -> None:
    lk, _ = link()
    waiting = await lk.run(request(), 1, Privacy.PLAINTEXT)
    lk.fail_all("peer closed")
    [error] = await parts_of(waiting)
    assert isinstance(error, AnswerError) and error.status == 502 and "peer closed" in error.message
    late = await lk.run(request(timeout=0.05), 2, Privacy.PLAINTEXT)
    [error] = await parts_of(late)
    assert isinstance(error, AnswerError) and error.status == 504
    assert lk.active_streams == 0


async def test_a_reader_busy_past_the_deadline_still_reads_an_answer_that_came_whole() -> None:
    lk, conn = link()
    reading = aiter(await lk.run(request(timeout=0.2), 1, Privacy.PLAINTEXT))
    [query] = conn.sent
    await lk.on_packet(head(query.request_id, b'{"n":1}'))
    assert isinstance(await anext(reading), AnswerHead)
    await lk.on_packet(ClientQueryAnswerPartEx(query.request_id, b"", FINAL))
    await asyncio.sleep(0.3)  # busy elsewhere (a slow app) past the deadline: not cancelled
    rest = [part async for part in reading]
    assert [type(part) for part in rest] == [AnswerChunk, AnswerEnd]
    assert lk.active_streams == 0


async def test_payment_pushes_are_kept_and_a_rollback_drops_the_proxy() -> None:
    lk, conn = link()
    assert (lk.payment.db_tokens, lk.payment.max_tokens) == (10, 100)
    await lk.on_packet(ProxyClientRequestPayment(b"\x00" * 32, ProxySignedPayment(b"signed"), 15, 120, 5))
    assert (lk.payment.db_tokens, lk.payment.max_tokens, lk.payment.signed_payment) == (15, 120, b"signed")
    await lk.on_packet(ProxyClientRequestPayment(b"\x00" * 32, ProxySignedPaymentEmpty(), 12, 120, 0))
    assert lk.dropping is not None
    await lk.dropping  # the close runs as its own task
    assert conn.closed and conn.close_reason is not None and "went back from 15 to 12" in conn.close_reason
    assert lk.payment.db_tokens == 15


class StatusConn(FakeConn):
    """Answers ``client.updatePaymentStatus`` from a list, then closes."""

    def __init__(self, statuses: list[Any]) -> None:
        super().__init__()
        self.statuses = statuses
        self.asked = 0

    async def query(self, obj: Any, *_: Any) -> Any:
        assert isinstance(obj, ClientUpdatePaymentStatus)
        self.asked += 1
        answer = self.statuses.pop(0)
        self.closed = not self.statuses
        return answer


class Upkeep:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def keep_funded(self, client_sc_address: str, used_tokens: int) -> bool:
        self.calls.append((client_sc_address, used_tokens))
        return False


async def test_the_payment_status_is_asked_and_the_contract_kept_funded(monkeypatch: Any) -> None:
    monkeypatch.setattr(cocoon_proxy, "STATUS_EVERY_S", (0.0, 0.0))
    conn = StatusConn(
        [
            ClientPaymentStatus(ProxySignedPayment(b"a"), 20, 150),
            ClientPaymentStatus(ProxySignedPaymentEmpty(), 30, 160),
        ]
    )
    upkeep = Upkeep()
    lk, _ = link()
    lk.conn, lk.upkeep = conn, upkeep  # type: ignore[assignment]
    await lk.keep_payment_status()
    assert conn.asked == 2 and (lk.payment.db_tokens, lk.payment.max_tokens) == (30, 160)
    assert lk.payment.signed_payment == b"a" and lk.payment.updates == 2
    assert upkeep.calls == [("client-sc", 150), ("client-sc", 160)]
