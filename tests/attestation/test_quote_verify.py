"""Offline quote verification on the real vectors, and one-byte tampering caught by the right check."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from cocoon.attestation.quote import Quote, parse_quote
from cocoon.attestation.quote_verify import INTEL_ROOT_KEY_ID, load_pck_chain, verify_quote_offline
from cocoon.errors import DecodeError, PckChainError, QuoteError, QuoteSignatureError

COCOON = "cocoon-tdx-quote.dat"
NOW = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp())
SIG_START = 48 + 584 + 4  # first byte of the ECDSA signature
QE_REPORT_START = SIG_START + 64 + 64 + 6
PEM_START = QE_REPORT_START + 384 + 64 + 2 + 32 + 6


@pytest.fixture(scope="module")
def raw(vectors) -> bytes:
    return vectors.read(COCOON)


def flipped(raw: bytes, offset: int, mask: int = 0x01) -> bytes:
    data = bytearray(raw)
    data[offset] ^= mask
    return bytes(data)


@pytest.mark.parametrize("name", [COCOON, "dcap-tdx-quote.bin"])
def test_vectors_verify_offline(vectors, name: str) -> None:
    verdict = verify_quote_offline(parse_quote(vectors.read(name)), NOW)
    assert verdict.root_key_id == INTEL_ROOT_KEY_ID
    assert "Intel SGX PCK Certificate" in verdict.pck_subject


@pytest.mark.parametrize("offset", [48, 200, 570, 631])  # tee_tcb_svn, mr_td, report_data, last body byte
def test_flipped_body_byte_breaks_quote_signature(raw: bytes, offset: int) -> None:
    with pytest.raises(QuoteSignatureError, match=r"^quote signature does not verify"):
        verify_quote_offline(parse_quote(flipped(raw, offset)), NOW)


def test_flipped_header_byte_breaks_quote_signature(raw: bytes) -> None:
    with pytest.raises(QuoteSignatureError, match=r"^quote signature"):
        verify_quote_offline(parse_quote(flipped(raw, 30)), NOW)  # qe_vendor_id


@pytest.mark.parametrize("offset", [SIG_START, SIG_START + 40])
def test_flipped_signature_byte_rejected(raw: bytes, offset: int) -> None:
    with pytest.raises(QuoteSignatureError, match=r"^quote signature"):
        verify_quote_offline(parse_quote(flipped(raw, offset)), NOW)


def test_flipped_attestation_key_breaks_binding(raw: bytes) -> None:
    with pytest.raises(QuoteSignatureError, match=r"does not bind the attestation key|not a valid P-256"):
        verify_quote_offline(parse_quote(flipped(raw, SIG_START + 64 + 10)), NOW)


@pytest.mark.parametrize("offset", [QE_REPORT_START + 5, QE_REPORT_START + 120, QE_REPORT_START + 330])
def test_flipped_qe_report_byte_rejected(raw: bytes, offset: int) -> None:
    with pytest.raises(QuoteSignatureError, match=r"^QE report signature"):
        verify_quote_offline(parse_quote(flipped(raw, offset)), NOW)


def test_flipped_qe_auth_data_breaks_binding(raw: bytes) -> None:
    with pytest.raises(QuoteSignatureError, match="does not bind the attestation key"):
        verify_quote_offline(parse_quote(flipped(raw, QE_REPORT_START + 384 + 64 + 2 + 3)), NOW)


@pytest.mark.parametrize("delta", [100, 700, 1500, 2500, 3500])
def test_flipped_pck_chain_byte_rejected(raw: bytes, delta: int) -> None:
    offset = PEM_START + delta
    assert raw[offset : offset + 1].isalnum(), "pick a base64 character"
    swapped = bytearray(raw)
    swapped[offset] = ord("A") if raw[offset] != ord("A") else ord("B")
    with pytest.raises(PckChainError):
        verify_quote_offline(parse_quote(bytes(swapped)), NOW)


def test_unpinned_root_rejected(raw: bytes) -> None:
    with pytest.raises(PckChainError, match="unknown root"):
        verify_quote_offline(parse_quote(raw), NOW, root_key_ids=frozenset({bytes(48)}))


def test_pck_not_yet_valid_rejected(raw: bytes) -> None:
    before_leaf = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())  # leaf issued 2025-07-20
    with pytest.raises(PckChainError, match="is not valid at 2025-07-01"):
        verify_quote_offline(parse_quote(raw), before_leaf)


def test_pck_expired_rejected(raw: bytes) -> None:
    after_leaf = int(datetime(2033, 1, 1, tzinfo=UTC).timestamp())  # leaf expires 2032-07-20
    with pytest.raises(PckChainError, match="not valid at 2033-01-01"):
        verify_quote_offline(parse_quote(raw), after_leaf)


def _der_chain(quote: Quote) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER) for c in load_pck_chain(quote.signature.pck_chain_pem)]


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, 4939), mask=st.integers(1, 255))
def test_any_flip_is_rejected_or_changes_nothing_attested(vectors, position: int, mask: int) -> None:
    raw = vectors.read(COCOON)
    original = parse_quote(raw)
    try:
        tampered = parse_quote(flipped(raw, position, mask))
        verify_quote_offline(tampered, NOW)
    except (DecodeError, QuoteError):
        return
    # Accepted: only PEM encoding slack changed (line breaks, trailing NUL, unused base64 bits).
    assert position >= PEM_START
    pem = original.signature.pck_chain_pem
    assert dataclasses.replace(tampered.signature, pck_chain_pem=pem) == original.signature
    assert dataclasses.replace(tampered, raw=raw, signature=original.signature) == original
    assert _der_chain(tampered) == _der_chain(original)
