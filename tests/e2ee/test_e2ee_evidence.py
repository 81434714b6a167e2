"""Offline proof of an end-to-end answer: the kept ciphertext and secret against its v2 receipt."""

from __future__ import annotations

import os

import msgspec
import pytest

from cocoon.attestation.receipt_e2e import E2EReceipt
from cocoon.e2e.envelope import ISSUE_WINDOW_S, Routing, open_request, seal_request
from cocoon.e2e.evidence import Evidence, open_evidence
from cocoon.e2e.frames import FrameSealer
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache
from cocoon.errors import ReceiptError

BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
NOW = 1_750_000_000


def _answer(payloads: list[bytes], *, error: bytes = b"", final: bool = True) -> tuple[E2EReceipt, Evidence]:
    """A sealed request, the worker's frames for ``payloads`` and the receipt it would sign."""
    keyring = Keyring(os.urandom)
    pair = keyring.rotate(not_after=NOW + 7200)
    routing = Routing("00000000000000ab", "m", "/v1/chat/completions", 64, 1, 1000)
    sealed = seal_request(
        BODY, routing, [(pair.key_id, pair.public_key)], issued_at=NOW, random_bytes=os.urandom
    )
    opened = open_request(sealed.envelope, routing, keyring, ReplayCache(2 * ISSUE_WINDOW_S), NOW)
    rn = os.urandom(32)
    sealer = FrameSealer(opened.secret, rn)
    frames = [sealer.head(200 if not error else 400, "application/json")]
    for payload in payloads:
        frames += list(sealer.data(payload))
    frames += list(sealer.error(error))
    if final:
        frames.append(sealer.final())
    receipt = E2EReceipt(
        version=2,
        request_id="00000000000000ab",
        hop_request_id=1,
        model_id="m",
        key_id=opened.key_id,
        header_sha256=opened.secret.h,
        envelope_sha256=sealed.envelope.sha256(),
        frames_sha256=sealer.log.digest(),
        frame_count=sealer.log.count,
        final=sealer.log.final,
        max_tokens=64,
        n=1,
        prompt_tokens=3,
        cached_tokens=0,
        completion_tokens=2,
        reasoning_tokens=0,
        coefficient=1000,
        issued_at=NOW,
    )
    return receipt, Evidence(sealed.envelope, sealed.secret.rs, rn, tuple(frames))


def test_the_evidence_opens_to_the_request_and_the_answer_the_receipt_signs() -> None:
    receipt, evidence = _answer([b'{"choices":', b"[]}"])
    body, response = open_evidence(receipt, Evidence.decode(evidence.encode()))
    assert body == BODY and response == b'{"choices":[]}'


def test_an_error_answer_opens_to_its_error_body() -> None:
    receipt, evidence = _answer([], error=b'{"error":{"message":"bad"}}')
    assert open_evidence(receipt, evidence)[1] == b'{"error":{"message":"bad"}}'


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda e: msgspec.structs.replace(e, frames=e.frames[:-1]), "frames are not the ones"),
        (
            lambda e: msgspec.structs.replace(
                e, frames=(*e.frames[:1], e.frames[2], e.frames[1], *e.frames[3:])
            ),
            "frames are not",
        ),
        (lambda e: msgspec.structs.replace(e, rs=os.urandom(32)), "does not open with its secret"),
        (lambda e: msgspec.structs.replace(e, rn=os.urandom(32)), "does not open with its secret"),
        (
            lambda e: msgspec.structs.replace(
                e, envelope=msgspec.structs.replace(e.envelope, ciphertext=e.envelope.ciphertext[:-1] + b"\0")
            ),
            "envelope does not hash",
        ),
    ],
    ids=["dropped frame", "reordered frames", "other secret", "other nonce", "altered envelope"],
)
def test_evidence_that_is_not_what_the_receipt_signs_is_refused(change: object, match: str) -> None:
    receipt, evidence = _answer([b"a", b"b", b"c"])
    assert callable(change)
    with pytest.raises(ReceiptError, match=match):
        open_evidence(receipt, change(evidence))


def test_garbage_is_not_evidence() -> None:
    with pytest.raises(ReceiptError, match="does not decode"):
        Evidence.decode(b"\x93\x01\x02")
