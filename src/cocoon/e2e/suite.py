"""The one HPKE suite of `cocoon-e2e/1`, key ids, and a worker's HPKE key pair (RFC 9180, Base mode).

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, from the pinned `cryptography`.
Its identifier is the three RFC 9180 code points as big-endian u16s (``0x0020 0x0001 0x0003``); a key
id is ``SHA-256(suite ‖ public key)[:8]``, so a key id also names the suite. The HPKE ephemeral key is
drawn by OpenSSL inside `cryptography` (its single-shot API takes no randomness): the one randomness
of this package that is not passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from cocoon.errors import E2EError

SUITE = bytes.fromhex("002000010003")
"""KEM 0x0020 DHKEM(X25519, HKDF-SHA256), KDF 0x0001 HKDF-SHA256, AEAD 0x0003 ChaCha20-Poly1305."""
KEY_SIZE = 32
KEY_ID_SIZE = 8
ENC_SIZE = 32
"""Size of the KEM's encapsulated key, which starts every HPKE ciphertext."""

RECIPIENT_CACHE_SIZE = 1024
"""Parsed worker public keys kept for sealing (a few per worker a client sends to)."""

_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def key_id(public_key: bytes) -> bytes:
    """The 8-byte id of an HPKE public key under `SUITE`."""
    return hashlib.sha256(SUITE + public_key).digest()[:KEY_ID_SIZE]


def seal_base(public_key: bytes, info: bytes, plaintext: bytes) -> bytes:
    """HPKE SealBase to a raw X25519 public key: ``enc ‖ ciphertext``."""
    if len(public_key) != KEY_SIZE:
        raise E2EError("e2e_bad_key", f"an HPKE public key must be {KEY_SIZE} bytes, not {len(public_key)}")
    try:
        recipient = _recipient(bytes(public_key))
    except ValueError as exc:
        raise E2EError("e2e_bad_key", f"not an X25519 public key: {exc}") from exc
    return _HPKE.encrypt(plaintext, recipient, info=info)


@lru_cache(maxsize=RECIPIENT_CACHE_SIZE)
def _recipient(public_key: bytes) -> X25519PublicKey:
    """A worker key parsed once: a client seals every request to the same few keys. Keyed by the exact
    bytes, and a parsed key is immutable; a key that does not parse raises and is not cached."""
    return X25519PublicKey.from_public_bytes(public_key)


def open_base(private_key: X25519PrivateKey, info: bytes, sealed: bytes) -> bytes:
    """HPKE OpenBase of `seal_base` output; `E2EError` (``e2e_open_failed``) if it does not open."""
    try:
        return _HPKE.decrypt(sealed, private_key, info=info)
    except (InvalidTag, ValueError) as exc:
        raise E2EError("e2e_open_failed", "the envelope's key wrap does not open with this key") from exc


@dataclass(frozen=True, slots=True)
class HpkeKeyPair:
    """A worker's HPKE key pair: kept in memory only, published in its statement until ``not_after``."""

    private_key: X25519PrivateKey
    public_key: bytes
    key_id: bytes
    not_after: int
    """Unix seconds after which clients should no longer encrypt to it."""

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes], not_after: int) -> HpkeKeyPair:
        """A fresh pair from 32 bytes of ``random_bytes``."""
        private = X25519PrivateKey.from_private_bytes(random_bytes(KEY_SIZE))
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(private, public, key_id(public), not_after)
