"""Signed receipts: round trip (wire and JSON), tampering, wrong key, hash checks."""

from __future__ import annotations

import hashlib
import json

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.receipt import Receipt, SignedReceipt, check_hashes, sign_receipt
from cocoon.errors import ReceiptError

REQUEST = b'{"model":"m","messages":[]}'
RESPONSE = b'data: {"choices":[]}\n\ndata: [DONE]\n\n'


def _receipt() -> Receipt:
    return Receipt(
        version=1,
        request_id="00000000000000ab",
        request_sha256=hashlib.sha256(REQUEST).digest(),
        response_sha256=hashlib.sha256(RESPONSE).digest(),
        model_id="m",
        prompt_tokens=10,
        cached_tokens=2,
        completion_tokens=5,
        reasoning_tokens=1,
        coefficient=1500,
        issued_at=1_750_000_000,
    )


def test_wire_and_json_round_trips_verify() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_receipt(_receipt(), key)
    assert SignedReceipt.decode(signed.encode()).verify(signed.signer) == _receipt()
    doc = json.loads(json.dumps(signed.to_json()))
    assert doc["request_sha256"] == hashlib.sha256(REQUEST).hexdigest()
    assert SignedReceipt.from_json(doc).verify(signed.signer) == _receipt()


@pytest.mark.parametrize("field", [f.name for f in msgspec.structs.fields(Receipt) if f.name != "version"])
def test_any_changed_field_fails(field: str) -> None:
    signed = sign_receipt(_receipt(), Ed25519PrivateKey.generate())
    doc = signed.to_json()
    value = doc[field]
    doc[field] = (
        value + 1 if isinstance(value, int) else ("00" * 32 if field.endswith("sha256") else value + "x")
    )
    with pytest.raises(ReceiptError, match="does not verify"):
        SignedReceipt.from_json(doc).verify()


def test_wrong_key_fails() -> None:
    signed = sign_receipt(_receipt(), Ed25519PrivateKey.generate())
    other = sign_receipt(_receipt(), Ed25519PrivateKey.generate()).signer
    with pytest.raises(ReceiptError, match="not by the attested worker key"):
        signed.verify(other)
    forged = SignedReceipt(signed.receipt, other, signed.signature)
    with pytest.raises(ReceiptError, match="does not verify"):
        forged.verify(other)


def test_hashes_of_request_and_response() -> None:
    receipt = _receipt()
    check_hashes(receipt, request=REQUEST, response=RESPONSE)
    changed = bytearray(RESPONSE)
    changed[7] ^= 1
    with pytest.raises(ReceiptError, match="response bytes do not match"):
        check_hashes(receipt, response=bytes(changed))
    with pytest.raises(ReceiptError, match="request body does not match"):
        check_hashes(receipt, request=REQUEST + b" ")


def test_malformed_inputs() -> None:
    with pytest.raises(ReceiptError, match="does not decode"):
        SignedReceipt.decode(b"\x93\x01")
    doc = sign_receipt(_receipt(), Ed25519PrivateKey.generate()).to_json()
    del doc["coefficient"]
    with pytest.raises(ReceiptError, match="missing the field 'coefficient'"):
        SignedReceipt.from_json(doc)
    with pytest.raises(ReceiptError, match="JSON object"):
        SignedReceipt.from_json([1])
