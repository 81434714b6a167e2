"""Ed25519 verification with remembered verdicts: a cache must never accept changed bytes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation import signed
from cocoon.attestation.signed import RECEIPT_DOMAIN, STATEMENT_DOMAIN, public_key_bytes, sign, verify
from cocoon.errors import StatementError


def _key() -> tuple[Ed25519PrivateKey, bytes]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, raw


def _check(public: bytes, body: bytes, signature: bytes, remember: bool = True) -> None:
    verify(public, STATEMENT_DOMAIN, body, signature, StatementError, "statement", remember=remember)


def test_a_remembered_signature_still_refuses_every_changed_input() -> None:
    private, public = _key()
    _, other = _key()
    body = b"claims"
    signature = sign(private, STATEMENT_DOMAIN, body)
    _check(public, body, signature)
    _check(public, body, signature)  # the remembered verdict
    bad = bytes([signature[0] ^ 1]) + signature[1:]
    for args in ((public, b"claimz", signature), (public, body, bad), (other, body, signature)):
        with pytest.raises(StatementError, match="does not verify"):
            _check(*args)
    with pytest.raises(StatementError, match="does not verify"):  # another domain, same body
        verify(public, b"other\x00", body, signature, StatementError, "statement", remember=True)


def test_a_refused_signature_is_not_remembered_and_the_cache_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signed, "VERDICT_CACHE_SIZE", 3)
    monkeypatch.setattr(signed, "_good", type(signed._good)())
    private, public = _key()
    signature = sign(private, STATEMENT_DOMAIN, b"x")
    with pytest.raises(StatementError):
        _check(public, b"y", signature)
    assert not signed._good
    for i in range(5):
        body = bytes([i])
        _check(public, body, sign(private, STATEMENT_DOMAIN, body))
    assert len(signed._good) == 3
    _check(public, b"x", signature, remember=False)
    assert len(signed._good) == 3  # receipts (remember=False) are not kept


def test_wrong_sizes_are_refused_before_any_check() -> None:
    private, public = _key()
    signature = sign(private, STATEMENT_DOMAIN, b"x")
    with pytest.raises(StatementError, match="32 bytes"):
        _check(public[:31], b"x", signature)
    with pytest.raises(StatementError, match="64 bytes"):
        _check(public, b"x", signature[:63])


def test_a_small_order_key_is_refused() -> None:
    small_order = bytes(32)  # the identity point's encoding is 0x01 then zeros; all-zero is order 4
    with pytest.raises(StatementError, match="does not verify"):
        _check(small_order, b"x", bytes(64))


def test_signatures_are_the_standard_deterministic_ed25519_ones() -> None:
    private, _ = _key()
    body = b"receipt body"
    signature = sign(private, STATEMENT_DOMAIN, body)
    assert signature == private.sign(STATEMENT_DOMAIN + body)  # what any Ed25519 library makes
    private.public_key().verify(signature, STATEMENT_DOMAIN + body)


def test_the_cached_public_key_is_each_signing_keys_own() -> None:
    """Keys cached side by side keep their own public halves (a receipt names its signer by it)."""
    keys = [_key() for _ in range(3)]
    for private, raw in keys * 2:
        assert public_key_bytes(private) == raw
        private.public_key().verify(sign(private, RECEIPT_DOMAIN, b"b"), RECEIPT_DOMAIN + b"b")
