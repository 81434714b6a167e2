"""An answer over COCOON's client protocol has no receipt by protocol: the client says so, plainly.

A real `CocoonLink` (its connection a fake that answers each ``client.runQueryEx`` with TL packets at
once) serves `ClientServing`: no warning per request, ``none_by_protocol`` counted apart from missing
receipts (in /jsonstats and /metrics), and the request's entry, its response header and the dashboard
say it went over the COCOON protocol without a receipt or end-to-end encryption. An answer of our own
protocol without a receipt is still a warned, missing receipt.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from client_answers import CONTENT, END, chat, chunk, head, read_all

from cocoon.api.validation import ValidatedRequest
from cocoon.client.backend import ClientProtocol, Privacy
from cocoon.client.cocoon_auth import Authorized
from cocoon.client.cocoon_proxy import CocoonAnswer, CocoonLink
from cocoon.client.dashboard import render_dashboard
from cocoon.client.fake_backend import FakeBackend
from cocoon.client.receipts import ReceiptBook
from cocoon.client.responses import EventStream
from cocoon.client.serving import ClientServing
from cocoon.clock import FakeClock
from cocoon.tl.codec import encode
from cocoon.tl.types import (
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    ClientQueryFinalInfo,
    ClientRunQueryEx,
    HttpHeader,
    HttpResponse,
    ProxyParams,
    ProxySignedPaymentEmpty,
    TokensUsed,
)

FINAL = ClientQueryFinalInfo(tokens_used=TokensUsed(5, 0, 2, 0, 7))
WHOLE = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"total_tokens":7}}'


class AnsweringConn:
    """A COCOON connection that answers each request at once: a head, then the body with the final info."""

    def __init__(self) -> None:
        self.link: CocoonLink | None = None

    async def send_packet(self, obj: Any) -> None:
        assert isinstance(obj, ClientRunQueryEx) and self.link is not None
        stream = b'"stream":true' in obj.query
        content_type = "text/event-stream" if stream else "application/json"
        response = HttpResponse("HTTP/1.1", 200, "OK", (HttpHeader("Content-Type", content_type),), b"")
        await self.link.on_packet(ClientQueryAnswerEx(obj.request_id, encode(response), None))
        await self.link.on_packet(
            ClientQueryAnswerPartEx(obj.request_id, CONTENT if stream else WHOLE, FINAL)
        )


class CocoonBackend(FakeBackend):
    """A backend whose every answer comes over one `CocoonLink`, as the client's pool would send it."""

    def __init__(self) -> None:
        super().__init__()
        conn = AnsweringConn()
        params = ProxyParams(b"\x01" * 32, "owner", "proxy-sc", True, 4)
        authorized = Authorized(params, "client-sc", "short", 4, ProxySignedPaymentEmpty(), 10, 100)
        self.link = CocoonLink("proxy:1", conn, authorized)  # type: ignore[arg-type]
        conn.link = self.link

    async def run(self, request: ValidatedRequest, request_id: int) -> CocoonAnswer:  # type: ignore[override]
        return await self.link.run(request, request_id, Privacy.DOWNGRADED)


async def _serve(api: ClientServing, stream: bool) -> tuple[dict[str, str], bytes]:
    answer = await api.serve(chat(stream=stream))
    if isinstance(answer, EventStream):
        return answer.headers, b"".join(await read_all(answer))
    return answer.headers, answer.body


@pytest.mark.parametrize("stream", [False, True])
async def test_a_cocoon_answer_is_no_receipt_by_protocol_without_a_warning(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    api = ClientServing(CocoonBackend(), clock=FakeClock())
    with caplog.at_level(logging.DEBUG, logger="cocoon.client.receipts"):
        headers, body = await _serve(api, stream)
    assert (CONTENT if stream else b'"content":"hi"') in body
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert headers["X-Cocoon-Protocol"] == "cocoon" and headers["X-Cocoon-E2E"] == "0"
    facts = await api.facts()
    assert facts["client"]["receipts"] == {"verified": 0, "failed": 0, "missing": 0, "none_by_protocol": 1}
    [recent] = facts["client"]["recent"]
    assert (recent["protocol"], recent["e2e"], recent["receipt"], recent["status"]) == (
        "cocoon",
        False,
        "none_by_protocol",
        200,
    )
    assert facts["client"]["e2e"]["e2e_downgrades"] == 1  # e2e preferred, the COCOON proxy cannot seal
    assert 'cocoon_client_receipts_total{outcome="none_by_protocol"} 1' in api.metrics()
    assert 'cocoon_client_receipts_total{outcome="missing"} 0' in api.metrics()
    page = render_dashboard(facts, [], "http://x/v1")
    assert "COCOON (no receipt, no end-to-end encryption)" in page
    assert "none (COCOON has no receipts)" in page
    assert "COCOON-protocol answers (no receipt, no e2e)" in page


async def test_our_own_answer_without_a_receipt_is_still_a_warned_missing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = ClientServing(FakeBackend([[head(), chunk(CONTENT), END]]), clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="cocoon.client.receipts"):
        headers, _ = await _serve(api, True)
    assert "the answer carries no receipt" in caplog.text
    assert headers["X-Cocoon-Protocol"] == "native"
    facts = await api.facts()
    assert facts["client"]["receipts"]["missing"] == 1
    assert facts["client"]["receipts"]["none_by_protocol"] == 0
    [recent] = facts["client"]["recent"]
    assert (recent["protocol"], recent["receipt"]) == ("native", "missing")
    page = render_dashboard(facts, [], "http://x/v1")
    assert "COCOON (no receipt" not in page and ">missing<" in page


async def test_a_statement_age_bound_refuses_cocoon_answers_saying_why() -> None:
    receipts = ReceiptBook(max_statement_age_s=60, clock=FakeClock())
    api = ClientServing(CocoonBackend(), receipts=receipts, clock=FakeClock())
    answer = await api.serve(chat(stream=False))
    assert not isinstance(answer, EventStream) and answer.status == 502
    message = json.loads(answer.body)["error"]["message"]
    assert "COCOON's client protocol carries no worker statement" in message
    assert "max_statement_age_s" in message
    [recent] = api.stats.snapshot()["recent"]
    assert recent["protocol"] == "cocoon" and recent["receipt"] is None


def test_a_cocoon_answer_names_its_protocol() -> None:
    assert CocoonAnswer.protocol is ClientProtocol.COCOON
