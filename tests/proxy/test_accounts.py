"""Reservations and settlement: 402 when the worst case is not covered, exact charges, caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocoon.errors import InsufficientFundsError, PaymentError
from cocoon.payments.params import NetworkParams
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import Ledger
from cocoon.usage import Usage

PARAMS = NetworkParams()  # price 20, worker fee 19


@pytest.fixture
def book(tmp_path: Path) -> ClientBook:
    ledger = Ledger(tmp_path / "state.db")
    # 100,000 tokens of credit at 20 nanoTON each
    ledger.ensure_client("c", 2_000_000)
    return ClientBook(ledger, PARAMS)


def test_reservation_is_worst_case_and_blocks_overdraft(book: ClientBook) -> None:
    # (max_tokens 1000 + 200 request bytes) * 4000 / 1000 = 4800 tokens
    r = book.reserve("r1", "c", max_tokens=1000, request_bytes=200, max_coefficient=4000)
    assert r.tokens == 4800
    assert book.available_tokens("c") == 100_000 - 4800
    # 95,200 tokens left: 23,800 * 4 = 95,200 just fits; 23,801 * 4 = 95,204 does not
    with pytest.raises(InsufficientFundsError, match="95204 tokens"):
        book.reserve("r2", "c", max_tokens=23_801, request_bytes=0, max_coefficient=4000)
    book.reserve("r2", "c", max_tokens=23_800, request_bytes=0, max_coefficient=4000)
    assert book.available_tokens("c") == 0
    book.release("r1")
    book.release("r2")
    assert book.available_tokens("c") == 100_000


def test_record_charges_exactly_the_metered_cost(book: ClientBook) -> None:
    book.reserve("r1", "c", max_tokens=1000, request_bytes=500, max_coefficient=4000)
    # spec example: P=1000 C=200 O=500 R=100 at 1.0x -> 800+200+400+100 = 1500 tokens -> 30,000 nanoTON
    usage = Usage(prompt_tokens=1000, cached_tokens=200, completion_tokens=500, reasoning_tokens=100)
    s = book.record("r1", usage, coefficient=1000, worker_id="w", worker_owner="EQw", now=1.0)
    assert (s.adjusted_tokens, s.cost_nano, s.worker_earned_nano) == (1500, 30_000, 1500 * 19)
    assert (s.prompt_cost_nano, s.completion_cost_nano) == (1000 * 20, 500 * 20)
    assert not s.capped
    assert book.ledger.client("c").charged_nano == 30_000
    assert book.reserved_tokens("c") == 0
    with pytest.raises(PaymentError):
        book.record("r1", usage, coefficient=1000, worker_id="w", worker_owner="EQw", now=2.0)


def test_record_never_exceeds_the_reservation(book: ClientBook) -> None:
    book.reserve("r1", "c", max_tokens=10, request_bytes=0, max_coefficient=1000)  # 10 tokens
    s = book.record("r1", Usage(prompt_tokens=50, completion_tokens=40), 1000, "w", "EQw", now=1.0)
    assert s.capped
    assert s.adjusted_tokens == 10
    assert s.cost_nano == 200
    assert s.prompt_cost_nano + s.completion_cost_nano == s.cost_nano


def test_coefficient_scales_the_charge(book: ClientBook) -> None:
    book.reserve("r1", "c", max_tokens=100, request_bytes=100, max_coefficient=4000)
    s = book.record("r1", Usage(prompt_tokens=30, completion_tokens=10), 2500, "w", "EQw", now=1.0)
    assert s.adjusted_tokens == 75 + 25


def test_an_embeddings_reservation_is_the_request_size_alone(book: ClientBook) -> None:
    # no completion part: 300 request bytes * 2000 / 1000 = 600 tokens
    r = book.reserve("e1", "c", max_tokens=0, request_bytes=300, max_coefficient=2000, generates=False)
    assert r.tokens == 600
    assert book.available_tokens("c") == 100_000 - 600
    # charged as prompt tokens only, never above the reservation
    cost = book.record("e1", Usage(prompt_tokens=250), 1000, "w", "owner", now=0.0)
    assert (cost.adjusted_tokens, cost.cost_nano, cost.prompt_cost_nano) == (250, 5000, 5000)
    assert cost.completion_cost_nano == 0 and not cost.capped


def test_an_embeddings_reservation_refuses_a_completion_budget(book: ClientBook) -> None:
    with pytest.raises(PaymentError, match="no completion budget: max_tokens must be 0, got 5"):
        book.reserve("e1", "c", max_tokens=5, request_bytes=300, max_coefficient=2000, generates=False)
    # and a generating request still needs one
    with pytest.raises(PaymentError, match="max_tokens must be at least 1"):
        book.reserve("e2", "c", max_tokens=0, request_bytes=300, max_coefficient=2000)
