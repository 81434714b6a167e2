"""HKDF-SHA256 of `cocoon-e2e/1`: our HMAC and HKDF halves give the same bytes as the standard library's
HMAC, `cryptography`'s HKDF and RFC 5869's own test vectors."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given
from hypothesis import strategies as st

from cocoon.e2e import kdf


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_is_the_standard_hmac(key: bytes, message: bytes) -> None:
    assert kdf.hmac_sha256(key, message) == hmac.digest(key, message, hashlib.sha256)


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 128])
def test_hmac_keys_around_the_block_size(key_size: int) -> None:
    key = bytes(range(key_size))
    assert kdf.extract(key, b"ikm") == hmac.digest(key, b"ikm", hashlib.sha256)


@given(st.binary(min_size=32, max_size=64), st.binary(max_size=40), st.integers(0, 300))
def test_expand_is_cryptographys_hkdf_expand(prk: bytes, info: bytes, length: int) -> None:
    assert kdf.expand(prk, info, length) == HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def test_rfc5869_test_case_1() -> None:
    prk = kdf.extract(bytes.fromhex("000102030405060708090a0b0c"), bytes.fromhex("0b" * 22))
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    okm = kdf.expand(prk, bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_expand_refuses_more_than_255_blocks() -> None:
    assert len(kdf.expand(bytes(32), b"", kdf.MAX_LENGTH)) == kdf.MAX_LENGTH
    with pytest.raises(ValueError, match="at most 8160"):
        kdf.expand(bytes(32), b"", kdf.MAX_LENGTH + 1)
