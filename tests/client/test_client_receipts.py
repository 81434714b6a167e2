"""The client verifies each answer's receipt against the worker key of the path, exposes only valid ones.

A fake backend plays proxy + worker: it signs the receipt over the bytes it means to send, and can
then alter a byte, sign with another key, or present a stale statement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.api.validation import ValidatedRequest
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.receipt import Receipt, sign_receipt
from cocoon.attestation.statement import make_statement, model_hash, sign_statement
from cocoon.client.http_api import make_client_app
from cocoon.client.receipts import ReceiptBook
from cocoon.clock import FakeClock
from cocoon.proxy.admission import worker_attestation_headers
from cocoon.usage import Usage
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerHead, AnswerPart

NOW = 1_750_000_000
MODEL = "m"
ANSWER = json.dumps(
    {
        "id": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


@dataclass
class Backend:
    """Answers every request with ANSWER; ``tamper``/``other_signer``/``statement_age`` break the path."""

    tamper: bool = False
    other_signer: bool = False
    statement_age: int = 0
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    cancelled: list[str] = field(default_factory=list)

    async def run(self, request: ValidatedRequest, request_id: int) -> Backend.Answer:
        return Backend.Answer(self, request, request_id)

    async def models(self) -> list[dict[str, Any]]:
        return []

    async def status(self) -> dict[str, Any]:
        return {}

    @dataclass
    class Answer:
        backend: Backend
        request: ValidatedRequest
        request_id: int

        async def __aiter__(self) -> AsyncIterator[AnswerPart]:
            b = self.backend
            statement = sign_statement(
                make_statement(NOW - b.statement_age, model_id=MODEL, model_hash=model_hash(MODEL)), b.key
            )
            public = b.key.public_key().public_bytes_raw()
            peer = AttestedPeer(public, "fake", None, None, None, statement=statement)
            headers = (("content-type", "application/json"), *worker_attestation_headers(peer))
            yield AnswerHead(1, 200, headers)
            receipt = Receipt(
                1,
                f"{self.request_id:016x}",
                hashlib.sha256(self.request.engine_body_bytes()).digest(),
                hashlib.sha256(ANSWER).digest(),
                MODEL,
                3,
                0,
                1,
                0,
                1000,
                NOW,
            )
            signer = Ed25519PrivateKey.generate() if b.other_signer else b.key
            sent = ANSWER.replace(b'"hi"', b'"hI"') if b.tamper else ANSWER
            yield AnswerChunk(1, sent)
            yield AnswerEnd(1, Usage(3, 0, 1, 0), receipt=sign_receipt(receipt, signer).encode())

        async def cancel(self, reason: str) -> None:
            self.backend.cancelled.append(reason)


async def _ask(backend: Backend, max_age: float = 0) -> tuple[int, dict[str, Any], ReceiptBook]:
    book = ReceiptBook(max_statement_age_s=max_age, clock=FakeClock(wall=NOW))
    async with TestClient(TestServer(make_client_app(backend, receipts=book))) as client:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
        resp = await client.post("/v1/chat/completions", json=body)
        doc = await resp.json()
        if resp.status == 200:
            stored = await client.get(f"/v1/receipts/{resp.headers['X-Cocoon-Request-Id']}")
            doc["stored_status"] = stored.status
        return resp.status, doc, book


async def test_a_valid_receipt_is_exposed_and_stored() -> None:
    backend = Backend()
    status, doc, book = await _ask(backend)
    assert status == 200 and doc["stored_status"] == 200
    assert doc["receipt"]["signer"] == backend.key.public_key().public_bytes_raw().hex()
    assert doc["receipt"]["response_sha256"] == hashlib.sha256(ANSWER).hexdigest()
    assert (book.counters.verified, book.counters.failed) == (1, 0)


@pytest.mark.parametrize("broken", [{"tamper": True}, {"other_signer": True}])
async def test_a_receipt_that_does_not_match_is_counted_and_never_exposed(broken: dict[str, bool]) -> None:
    status, doc, book = await _ask(Backend(**broken))
    assert status == 200  # the answer itself is delivered
    assert "receipt" not in doc and doc["stored_status"] == 404
    assert (book.counters.verified, book.counters.failed) == (0, 1)


async def test_a_worker_whose_statement_is_older_than_the_bound_is_refused() -> None:
    backend = Backend(statement_age=7200)
    status, doc, _ = await _ask(backend, max_age=3600)
    assert status == 502 and doc["error"]["code"] == "worker_not_attested"
    assert "older than the allowed 3600 s" in doc["error"]["message"]
    assert backend.cancelled and backend.cancelled[0].startswith("worker refused")
    status, _, _ = await _ask(Backend(statement_age=60), max_age=3600)
    assert status == 200
