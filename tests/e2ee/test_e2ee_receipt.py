"""Receipts v2 (end-to-end encrypted answers): signing, wire and JSON forms, `check` against what a
side saw (naming the first field that differs), wrong signer or version, and telling v1 from v2."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.receipt import Receipt, SignedReceipt, receipt_version, sign_receipt
from cocoon.attestation.receipt_e2e import (
    E2E_RECEIPT_VERSION,
    E2EExpectation,
    E2EReceipt,
    FramesSeen,
    SignedE2EReceipt,
    sign_e2e_receipt,
)
from cocoon.e2e.envelope import ISSUE_WINDOW_S, Routing, open_request, seal_request
from cocoon.e2e.frames import FrameLog, FrameOpener, FrameSealer
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache
from cocoon.errors import ReceiptError
from cocoon.usage import Usage

H = hashlib.sha256(b"header").digest()
ENVELOPE = hashlib.sha256(b"envelope").digest()
FRAMES = hashlib.sha256(b"frames").digest()
USAGE = Usage(prompt_tokens=10, cached_tokens=2, completion_tokens=5, reasoning_tokens=1)
KEY = Ed25519PrivateKey.generate()


def _receipt(**changes: object) -> E2EReceipt:
    receipt = E2EReceipt(
        version=2,
        request_id="00000000000000ab",
        hop_request_id=77,
        model_id="m",
        key_id=bytes.fromhex("0102030405060708"),
        header_sha256=H,
        envelope_sha256=ENVELOPE,
        frames_sha256=FRAMES,
        frame_count=5,
        final=True,
        max_tokens=512,
        n=2,
        prompt_tokens=10,
        cached_tokens=2,
        completion_tokens=5,
        reasoning_tokens=1,
        coefficient=1500,
        issued_at=1_750_000_000,
    )
    return msgspec.structs.replace(receipt, **changes)


def _expectation(hop_request_id: int | None = 77) -> E2EExpectation:
    return E2EExpectation(
        client_request_id="00000000000000ab",
        model="m",
        header_sha256=H,
        envelope_sha256=ENVELOPE,
        max_tokens=512,
        n=2,
        hop_request_id=hop_request_id,
    )


SEEN = FramesSeen(sha256=FRAMES, count=5, final=True)

# Each field `check` compares, in its order, with a value that differs from what was seen.
CHECKED: list[tuple[str, object]] = [
    ("request_id", "00000000000000ac"),
    ("model_id", "m2"),
    ("header_sha256", hashlib.sha256(b"other header").digest()),
    ("envelope_sha256", hashlib.sha256(b"other envelope").digest()),
    ("max_tokens", 513),
    ("n", 1),
    ("frames_sha256", hashlib.sha256(b"other frames").digest()),
    ("frame_count", 4),
    ("final", False),
    ("prompt_tokens", 11),
    ("cached_tokens", 3),
    ("completion_tokens", 6),
    ("reasoning_tokens", 0),
    ("hop_request_id", 78),
]


def test_sign_encode_decode_verify() -> None:
    signed = sign_e2e_receipt(_receipt(), KEY)
    decoded = SignedE2EReceipt.decode(signed.encode())
    assert decoded == signed
    assert decoded.verify(signed.signer) == _receipt()
    assert signed.receipt.version == E2E_RECEIPT_VERSION == 2


def test_check_passes_when_everything_agrees() -> None:
    signed = sign_e2e_receipt(_receipt(), KEY)
    assert signed.check(signed.signer, _expectation(), SEEN, USAGE) == _receipt()
    # The client does not know the proxy-to-worker request id: not checked then.
    other_hop = sign_e2e_receipt(_receipt(hop_request_id=12345), KEY)
    assert (
        other_hop.check(signed.signer, _expectation(hop_request_id=None), SEEN, USAGE).hop_request_id == 12345
    )


@pytest.mark.parametrize(("field", "value"), CHECKED, ids=[name for name, _ in CHECKED])
def test_check_names_the_differing_field(field: str, value: object) -> None:
    signed = sign_e2e_receipt(_receipt(**{field: value}), KEY)
    signed.verify(signed.signer)  # the signature is good: only the content differs
    with pytest.raises(ReceiptError, match=f"receipt's {field} differs"):
        signed.check(signed.signer, _expectation(), SEEN, USAGE)


@pytest.mark.parametrize("index", range(len(CHECKED)), ids=[name for name, _ in CHECKED])
def test_check_names_the_first_differing_field(index: int) -> None:
    """With this field and every later one altered, the message names this one."""
    signed = sign_e2e_receipt(_receipt(**dict(CHECKED[index:])), KEY)
    with pytest.raises(ReceiptError, match=f"receipt's {CHECKED[index][0]} differs"):
        signed.check(signed.signer, _expectation(), SEEN, USAGE)


def test_check_verifies_the_signature_first() -> None:
    signed = sign_e2e_receipt(_receipt(model_id="m2"), KEY)
    forged = SignedE2EReceipt(_receipt(), signed.signer, signed.signature)
    with pytest.raises(ReceiptError, match="does not verify"):
        forged.check(signed.signer, _expectation(), SEEN, USAGE)


def test_wrong_signer() -> None:
    signed = sign_e2e_receipt(_receipt(), KEY)
    other = sign_e2e_receipt(_receipt(), Ed25519PrivateKey.generate())
    with pytest.raises(ReceiptError, match="not by the attested worker key"):
        signed.verify(other.signer)
    with pytest.raises(ReceiptError, match="not by the attested worker key"):
        signed.check(other.signer, _expectation(), SEEN, USAGE)
    # Claiming the other key as signer does not make KEY's signature verify.
    with pytest.raises(ReceiptError, match="does not verify"):
        SignedE2EReceipt(signed.receipt, other.signer, signed.signature).verify(other.signer)


@pytest.mark.parametrize("version", [1, 3, 0])
def test_wrong_version(version: int) -> None:
    signed = sign_e2e_receipt(_receipt(version=version), KEY)
    with pytest.raises(ReceiptError, match=f"version {version} is not supported"):
        signed.verify(signed.signer)


@pytest.mark.parametrize("field", [f.name for f in msgspec.structs.fields(E2EReceipt) if f.name != "version"])
def test_any_changed_field_breaks_the_signature(field: str) -> None:
    signed = sign_e2e_receipt(_receipt(), KEY)
    doc = signed.to_json()
    value = doc[field]
    if isinstance(value, bool):
        doc[field] = not value
    elif isinstance(value, int):
        doc[field] = value + 1
    elif field in ("key_id", "header_sha256", "envelope_sha256", "frames_sha256"):
        doc[field] = "00" * (len(value) // 2)
    else:
        doc[field] = value + "x"
    with pytest.raises(ReceiptError, match="does not verify"):
        SignedE2EReceipt.from_json(doc).verify(signed.signer)


def test_json_round_trip() -> None:
    signed = sign_e2e_receipt(_receipt(), KEY)
    doc = json.loads(json.dumps(signed.to_json()))
    assert doc["version"] == 2
    assert doc["header_sha256"] == H.hex()
    assert doc["envelope_sha256"] == ENVELOPE.hex()
    assert doc["frames_sha256"] == FRAMES.hex()
    assert doc["key_id"] == "0102030405060708"
    assert doc["final"] is True
    assert doc["signer"] == signed.signer.hex()
    assert doc["signature"] == signed.signature.hex()
    back = SignedE2EReceipt.from_json(doc)
    assert back == signed
    assert back.verify(signed.signer) == _receipt()


def test_json_malformed() -> None:
    doc = sign_e2e_receipt(_receipt(), KEY).to_json()
    del doc["frames_sha256"]
    with pytest.raises(ReceiptError, match="missing the field 'frames_sha256'"):
        SignedE2EReceipt.from_json(doc)
    doc = sign_e2e_receipt(_receipt(), KEY).to_json()
    doc["header_sha256"] = "not hex"
    with pytest.raises(ReceiptError, match="malformed field"):
        SignedE2EReceipt.from_json(doc)
    with pytest.raises(ReceiptError, match="JSON object"):
        SignedE2EReceipt.from_json([1])


def _v1() -> SignedReceipt:
    receipt = Receipt(
        version=1,
        request_id="00000000000000ab",
        request_sha256=hashlib.sha256(b"req").digest(),
        response_sha256=hashlib.sha256(b"resp").digest(),
        model_id="m",
        prompt_tokens=10,
        cached_tokens=2,
        completion_tokens=5,
        reasoning_tokens=1,
        coefficient=1500,
        issued_at=1_750_000_000,
    )
    return sign_receipt(receipt, KEY)


def test_receipt_version_tells_v1_from_v2() -> None:
    v1, v2 = _v1().encode(), sign_e2e_receipt(_receipt(), KEY).encode()
    assert receipt_version(v1) == 1
    assert receipt_version(v2) == 2
    with pytest.raises(ReceiptError, match="does not decode"):
        SignedE2EReceipt.decode(v1)
    with pytest.raises(ReceiptError, match="does not decode"):
        SignedReceipt.decode(v2)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="not-msgpack"),
        pytest.param(msgspec.msgpack.encode([[], b"", b""]), id="no-fields"),
        pytest.param(msgspec.msgpack.encode([["2"], b"", b""]), id="version-not-int"),
    ],
)
def test_receipt_version_refuses_non_receipts(data: bytes) -> None:
    with pytest.raises(ReceiptError):
        receipt_version(data)


def test_decode_refuses_garbage() -> None:
    with pytest.raises(ReceiptError, match="does not decode"):
        SignedE2EReceipt.decode(b"\x93\x01")


def test_a_real_answer_checks_at_the_proxy_and_the_client() -> None:
    """Worker signs what its frame log says; the proxy (relay log, hop id) and the client (its opener's
    log, no hop id) both accept it; a relay that dropped a frame does not."""
    keyring = Keyring(os.urandom)
    pair = keyring.rotate(not_after=2_000_000_000)
    routing = Routing("00000000000000ab", "m", "/v1/chat/completions", 512, 2, 1500)
    now = 1_750_000_000
    sealed = seal_request(
        b'{"model":"m"}', routing, [(pair.key_id, pair.public_key)], issued_at=now, random_bytes=os.urandom
    )
    opened = open_request(sealed.envelope, routing, keyring, ReplayCache(2 * ISSUE_WINDOW_S), now)
    rn = os.urandom(32)
    sealer = FrameSealer(opened.secret, rn)
    frames = [sealer.head(200, "text/event-stream"), *sealer.data(b"data: x\n\n"), sealer.final()]
    receipt = _receipt(
        hop_request_id=9,
        key_id=opened.key_id,
        header_sha256=opened.secret.h,
        envelope_sha256=sealed.envelope.sha256(),
        frames_sha256=sealer.log.digest(),
        frame_count=sealer.log.count,
        final=sealer.log.final,
        max_tokens=opened.header.max_tokens,
        n=opened.header.n,
    )
    signed = SignedE2EReceipt.decode(sign_e2e_receipt(receipt, KEY).encode())

    relay = FrameLog()
    opener = FrameOpener(sealed.secret, rn)
    for frame in frames:
        relay.add(frame)
        opener.open(frame)
    expected = E2EExpectation(
        routing.client_request_id, routing.model, sealed.secret.h, sealed.envelope.sha256(), 512, 2
    )
    relay_seen = FramesSeen(relay.digest(), relay.count, relay.final)
    at_proxy = dataclasses.replace(expected, hop_request_id=9)
    assert signed.check(signed.signer, at_proxy, relay_seen, USAGE) == receipt
    client_seen = FramesSeen(opener.log.digest(), opener.log.count, opener.log.final)
    assert client_seen == relay_seen
    assert signed.check(signed.signer, expected, client_seen, USAGE) == receipt
    with pytest.raises(ReceiptError, match="hop_request_id differs"):
        signed.check(signed.signer, dataclasses.replace(expected, hop_request_id=10), relay_seen, USAGE)

    short = FrameLog()
    for frame in (frames[0], frames[2]):
        short.add(frame)
    with pytest.raises(ReceiptError, match="frames_sha256 differs"):
        signed.check(signed.signer, expected, FramesSeen(short.digest(), short.count, short.final), USAGE)


def test_the_key_id_and_coefficient_are_checked_when_the_checking_side_knows_them() -> None:
    signed = sign_e2e_receipt(_receipt(), KEY)
    ours = bytes.fromhex("0102030405060708")
    good = dataclasses.replace(_expectation(), key_ids=(b"\x09" * 8, ours), coefficient=1500)
    assert signed.check(signed.signer, good, SEEN, USAGE).key_id == ours
    unlisted = dataclasses.replace(good, key_ids=(b"\x09" * 8,))
    with pytest.raises(ReceiptError, match="receipt's key_id differs"):
        signed.check(signed.signer, unlisted, SEEN, USAGE)
    repriced = dataclasses.replace(good, coefficient=1000)
    with pytest.raises(ReceiptError, match="receipt's coefficient differs"):
        signed.check(signed.signer, repriced, SEEN, USAGE)
