"""The end-to-end tag of a v2 receipt: the worker and the client derive the same key from the answer's
key schedule and nobody else can; the tag travels in the receipt's wire form (older decoders skip
it); the client authenticates a tagged receipt by its tag, which covers the signature too, while the
proxy (no tag key) and an untagged receipt still go by the signature."""

from __future__ import annotations

import hashlib
import hmac
import os

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from test_e2ee_receipt import SEEN, USAGE, _expectation, _receipt

from cocoon.attestation.receipt import receipt_version
from cocoon.attestation.receipt_e2e import SignedE2EReceipt, sign_e2e_receipt
from cocoon.e2e.envelope import RequestSecret
from cocoon.e2e.frames import RECEIPT_TAG_INFO, FrameOpener, FrameSealer
from cocoon.errors import ReceiptError

KEY = Ed25519PrivateKey.generate()


def _answer_keys() -> tuple[FrameSealer, FrameOpener, RequestSecret, bytes]:
    """The worker's and the client's side of one answer (the same request secret and ``rn``)."""
    secret = RequestSecret(os.urandom(32), os.urandom(32))
    rn = os.urandom(32)
    return FrameSealer(secret, rn), FrameOpener(secret, rn), secret, rn


def _tagged(sealer: FrameSealer) -> SignedE2EReceipt:
    return sign_e2e_receipt(_receipt(), KEY).with_tag(sealer.receipt_tag)


def test_the_worker_and_the_client_derive_the_same_tag_and_nobody_else_can() -> None:
    sealer, opener, secret, rn = _answer_keys()
    tag = sealer.receipt_tag(b"covered")
    assert opener.receipt_tag(b"covered") == tag and len(tag) == 32
    assert opener.receipt_tag(b"covered!") != tag
    other_rn = FrameOpener(secret, os.urandom(32))
    other_rs = FrameOpener(RequestSecret(secret.h, os.urandom(32)), rn)
    other_h = FrameOpener(RequestSecret(os.urandom(32), secret.rs), rn)
    assert tag not in {o.receipt_tag(b"covered") for o in (other_rn, other_rs, other_h)}
    # HMAC-SHA256 under HKDF-Expand(HKDF-Extract(h || rn, rs), "receipt tag", 32), by other code.
    prk = hmac.digest(secret.h + rn, secret.rs, "sha256")
    key = HKDFExpand(hashes.SHA256(), 32, RECEIPT_TAG_INFO).derive(prk)
    assert tag == hmac.digest(key, b"covered", "sha256")


def test_the_tag_covers_the_signed_bytes_the_signer_and_the_signature() -> None:
    sealer, _, _, _ = _answer_keys()
    signed = _tagged(sealer)
    covered = msgspec.msgpack.encode(signed.receipt) + signed.signer + signed.signature
    assert signed.tagged_bytes() == covered and signed.tag == sealer.receipt_tag(covered)


def test_the_tag_travels_in_the_wire_form_and_an_older_decoder_skips_it() -> None:
    sealer, _, _, _ = _answer_keys()
    signed = _tagged(sealer)
    wire = signed.encode()
    assert SignedE2EReceipt.decode(wire) == signed
    assert receipt_version(wire) == 2

    class OlderWire(msgspec.Struct, array_like=True):  # the wire form before the tag
        receipt: list[object]
        signer: bytes
        signature: bytes

    older = msgspec.msgpack.decode(wire, type=OlderWire)
    assert (older.signer, older.signature) == (signed.signer, signed.signature)
    untagged = msgspec.msgpack.encode((signed.receipt, signed.signer, signed.signature))
    assert SignedE2EReceipt.decode(untagged) == msgspec.structs.replace(signed, tag=b"")


def test_the_client_authenticates_a_tagged_receipt_by_its_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    sealer, opener, _, _ = _answer_keys()
    signed = SignedE2EReceipt.decode(_tagged(sealer).encode())

    def no_signature_check(self: SignedE2EReceipt, expected_signer: bytes) -> None:
        raise AssertionError("a matching tag leaves the signature to the proxy")

    monkeypatch.setattr(SignedE2EReceipt, "verify", no_signature_check)
    assert signed.check(signed.signer, _expectation(), SEEN, USAGE, tag_of=opener.receipt_tag) == _receipt()


def test_a_receipt_altered_on_its_way_fails_its_tag() -> None:
    sealer, opener, _, _ = _answer_keys()
    signed = _tagged(sealer)
    flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    altered = [
        msgspec.structs.replace(signed, signature=flipped),
        msgspec.structs.replace(signed, receipt=_receipt(completion_tokens=6)),
        msgspec.structs.replace(signed, tag=bytes(32)),
        _tagged(_answer_keys()[0]),  # the tag of another answer
    ]
    for receipt in altered:
        with pytest.raises(ReceiptError, match="tag does not match"):
            receipt.authenticate(signed.signer, opener.receipt_tag)


def test_a_tag_does_not_change_whose_and_which_version_a_receipt_must_be() -> None:
    sealer, opener, _, _ = _answer_keys()
    other = Ed25519PrivateKey.generate()
    by_other = sign_e2e_receipt(_receipt(), other).with_tag(sealer.receipt_tag)
    with pytest.raises(ReceiptError, match="not by the attested worker key"):
        by_other.authenticate(_tagged(sealer).signer, opener.receipt_tag)
    v3 = sign_e2e_receipt(_receipt(version=3), KEY).with_tag(sealer.receipt_tag)
    with pytest.raises(ReceiptError, match="version 3 is not supported"):
        v3.authenticate(v3.signer, opener.receipt_tag)


def test_without_a_tag_or_its_key_the_signature_is_verified() -> None:
    sealer, opener, _, _ = _answer_keys()
    signed = _tagged(sealer)
    bad = bytes(64)
    stripped = msgspec.structs.replace(signed, tag=b"")  # a worker that predates tags, or a proxy that cut it
    assert stripped.authenticate(signed.signer, opener.receipt_tag) == _receipt()
    with pytest.raises(ReceiptError, match="does not verify"):
        msgspec.structs.replace(stripped, signature=bad).authenticate(signed.signer, opener.receipt_tag)
    # The proxy has no tag key: it verifies the signature of a tagged receipt before it charges.
    assert signed.authenticate(signed.signer) == _receipt()
    with pytest.raises(ReceiptError, match="does not verify"):
        msgspec.structs.replace(signed, signature=bad).authenticate(signed.signer)


def test_a_worker_that_signs_wrongly_is_refused_by_the_proxy_though_its_tag_matches() -> None:
    """The trade the tag makes: a worker that tags a signature of its own that does not verify gets
    past the client's check, never the proxy's, which does not charge for it (nor relay its end)."""
    sealer, opener, _, _ = _answer_keys()
    signed = sign_e2e_receipt(_receipt(), KEY)
    wrong = msgspec.structs.replace(signed, signature=hashlib.sha512(b"not a signature").digest())
    tagged = wrong.with_tag(sealer.receipt_tag)
    assert tagged.authenticate(signed.signer, opener.receipt_tag) == _receipt()
    with pytest.raises(ReceiptError, match="does not verify"):
        tagged.check(signed.signer, _expectation(), SEEN, USAGE)
