"""The COCOON answer writer on its own: packets for head, chunks, end and errors, and tokensUsed equal to
the charge, split by class."""

from __future__ import annotations

import pytest

from cocoon.payments.params import Nano, Tokens
from cocoon.proxy.accounts import RequestCost
from cocoon.proxy.answer_writer import ChargeAware
from cocoon.proxy.cocoon_answers import CocoonAnswer, tokens_used, ton_error_code
from cocoon.tl.base import TLObject
from cocoon.tl.codec import decode_as
from cocoon.tl.types import (
    ClientQueryAnswerErrorEx,
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    HttpResponse,
)
from cocoon.usage import Usage

PRICE = 20
RID = b"\x07" * 32


def cost(total: int, prompt: int) -> RequestCost:
    return RequestCost(
        adjusted_tokens=Tokens(total),
        cost_nano=Nano(total * PRICE),
        prompt_cost_nano=Nano(prompt * PRICE),
        completion_cost_nano=Nano((total - prompt) * PRICE),
        worker_earned_nano=Nano(total * 19),
        capped=False,
    )


@pytest.mark.parametrize(
    ("status", "code", "ton"),
    [
        (400, "invalid_request", 621),
        (404, "model_not_found", 621),
        (402, "insufficient_funds", 602),
        (503, "no_capacity", 651),
        (503, "proxy_unavailable", 651),
        (504, "timeout", 652),
        (502, "upstream_error", 602),
    ],
)
def test_ton_error_codes(status: int, code: str, ton: int) -> None:
    assert ton_error_code(status, code) == ton


@pytest.mark.parametrize(
    ("usage", "total", "prompt"),
    [
        (Usage(100, 20, 50, 10), 150, 100),
        (Usage(7, 0, 3, 3), 10, 7),
        (Usage(0, 0, 0, 0), 0, 0),
        (Usage(1000, 999, 1, 0), 60, 50),  # capped at the reservation: the split still sums up
    ],
)
def test_tokens_used_sum_to_the_charge(usage: Usage, total: int, prompt: int) -> None:
    used = tokens_used(usage, total, prompt * PRICE, PRICE)
    parts = (used.prompt_tokens_used, used.cached_tokens_used, used.completion_tokens_used)
    assert sum(parts) + used.reasoning_tokens_used == used.total_tokens_used == total
    assert used.prompt_tokens_used + used.cached_tokens_used == prompt
    assert min(*parts, used.reasoning_tokens_used) >= 0


async def test_head_chunks_end_and_an_error_after_a_charge() -> None:
    sent: list[TLObject] = []

    async def send(obj: TLObject) -> None:
        sent.append(obj)

    answer = CocoonAnswer(RID, send, PRICE)
    await answer.head(200, (("content-type", "text/event-stream"), ("content-length", "5")))
    await answer.chunk(b"data: 1\n\n")
    await answer.end(Usage(10, 0, 5, 0), adjusted_tokens=15, prompt_cost=10 * PRICE)
    head, part, final = sent
    assert isinstance(head, ClientQueryAnswerEx) and head.final_info is None
    http = decode_as(head.answer, HttpResponse)
    assert http.status_code == 200 and http.reason == "OK" and http.payload == b""
    assert [(h.name, h.value) for h in http.headers] == [
        ("content-type", "text/event-stream"),
        ("Transfer-Encoding", "chunked"),
    ]
    assert (
        isinstance(part, ClientQueryAnswerPartEx)
        and part.answer == b"data: 1\n\n"
        and part.final_info is None
    )
    assert isinstance(final, ClientQueryAnswerPartEx) and final.final_info is not None
    assert final.final_info.tokens_used.total_tokens_used == 15 == answer.charged_tokens

    sent.clear()
    failed = CocoonAnswer(RID, send, PRICE)
    assert isinstance(failed, ChargeAware)
    failed.charged(cost(8, 6))  # the router charged the delivered part before the error
    await failed.error(502, "upstream_error", "worker gone", Usage(6, 0, 2, 0))
    (error,) = sent
    assert isinstance(error, ClientQueryAnswerErrorEx) and error.error_code == 602
    assert error.error == "upstream_error (HTTP 502): worker gone" and error.final_info is not None
    assert error.final_info.tokens_used.total_tokens_used == 8 == failed.charged_tokens
