"""The one HPKE suite of `cocoon-e2e/1`, key ids, and a worker's HPKE key pair (RFC 9180, Base mode).

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305. Its identifier is the three
RFC 9180 code points as big-endian u16s (``0x0020 0x0001 0x0003``); a key id is
``SHA-256(suite ‖ public key)[:8]``, so a key id also names the suite.

Base mode single-shot Seal and Open (sequence number 0, empty AAD) are written here from RFC 9180's
sections 4.1 and 5.1: X25519 in libsodium, ChaCha20-Poly1305 in `cryptography` (OpenSSL; a third of
libsodium's cost through its bindings for inputs this short), HKDF in `cocoon.e2e.kdf`. A client
seals up to three wraps per request, and `cryptography`'s single-shot HPKE cost about 80 µs a wrap
here, most of it its key-pair generation; this costs about 60. It also takes the ephemeral key's
randomness as an argument, like everything else in this package. Seal and Open come in two halves,
`encapsulate`/`decapsulate` (the X25519 and the part of the key schedule that does not depend on
``info``) and `seal_to`/`open_base`'s ``secret_of``, so that `cocoon.e2e.kem_reuse` can keep the first
half for many wraps. The tests pin it to the RFC's
vectors and to `cryptography`'s HPKE both ways.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import CryptoError

from cocoon.e2e import kdf
from cocoon.errors import E2EError

SUITE = bytes.fromhex("002000010003")
"""KEM 0x0020 DHKEM(X25519, HKDF-SHA256), KDF 0x0001 HKDF-SHA256, AEAD 0x0003 ChaCha20-Poly1305."""
KEY_SIZE = 32
KEY_ID_SIZE = 8
ENC_SIZE = 32
"""Size of the KEM's encapsulated key, which starts every HPKE ciphertext."""
TAG_SIZE = 16

# RFC 9180 labels, with their suite ids: "KEM" ‖ kem_id for the KEM, "HPKE" ‖ kem ‖ kdf ‖ aead after.
_KEM_LABEL = b"HPKE-v1KEM" + SUITE[:2]
_HPKE_LABEL = b"HPKE-v1HPKE" + SUITE
_MODE_BASE = b"\x00"
_NK, _NN, _NSECRET = 32, 12, 32


def _labeled_extract(label_prefix: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return kdf.extract(salt, label_prefix + label + ikm)


def _labeled_expand(label_prefix: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return kdf.expand(prk, length.to_bytes(2, "big") + label_prefix + label + info, length)


_PSK_ID_HASH = _labeled_extract(_HPKE_LABEL, b"", b"psk_id_hash", b"")
"""Base mode has no PSK: its id hash is a constant."""


def key_id(public_key: bytes) -> bytes:
    """The 8-byte id of an HPKE public key under `SUITE`."""
    return hashlib.sha256(SUITE + public_key).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True, slots=True)
class Encapsulation:
    """RFC 9180's Encap to one recipient key, carried through the part of the key schedule that does not
    depend on ``info``: ``enc`` (the ephemeral public key every wrap starts with) and the schedule's
    ``secret``. `seal_to` turns it into a wrap for any ``info``."""

    enc: bytes
    secret: bytes = field(repr=False)


def encapsulate(public_key: bytes, ephemeral: bytes) -> Encapsulation:
    """Encap to a raw X25519 public key with the 32-byte ephemeral private key ``ephemeral``."""
    if len(public_key) != KEY_SIZE:
        raise E2EError("e2e_bad_key", f"an HPKE public key must be {KEY_SIZE} bytes, not {len(public_key)}")
    recipient = bytes(public_key)
    enc = crypto_scalarmult_base(ephemeral)
    try:
        dh = crypto_scalarmult(ephemeral, recipient)
    except CryptoError as exc:  # a small-order key: the shared secret would be all zeros
        raise E2EError("e2e_bad_key", "not a usable X25519 public key (small order)") from exc
    return Encapsulation(enc, _schedule_secret(dh, enc + recipient))


def decapsulate(pair: HpkeKeyPair, enc: bytes) -> bytes:
    """The schedule's ``secret`` of an encapsulation ``enc`` to ``pair``; `E2EError`
    (``e2e_open_failed``) for a small-order ``enc``."""
    try:
        dh = crypto_scalarmult(pair.private_key, enc)
    except CryptoError as exc:
        raise E2EError("e2e_open_failed", "the envelope's key wrap does not open with this key") from exc
    return _schedule_secret(dh, enc + pair.public_key)


def seal_to(encapsulation: Encapsulation, info: bytes, plaintext: bytes) -> bytes:
    """HPKE SealBase of ``plaintext`` under ``info`` with an encapsulation: ``enc ‖ ciphertext``."""
    key, nonce = _key_and_nonce(encapsulation.secret, info)
    return encapsulation.enc + ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)


def seal_base(
    public_key: bytes, info: bytes, plaintext: bytes, *, random_bytes: Callable[[int], bytes]
) -> bytes:
    """HPKE SealBase to a raw X25519 public key: ``enc ‖ ciphertext``; the ephemeral private key is
    32 bytes of ``random_bytes`` (RFC 9180's GenerateKeyPair for X25519)."""
    return seal_to(encapsulate(public_key, random_bytes(KEY_SIZE)), info, plaintext)


def open_base(
    pair: HpkeKeyPair,
    info: bytes,
    sealed: bytes,
    *,
    secret_of: Callable[[HpkeKeyPair, bytes], bytes] = decapsulate,
) -> bytes:
    """HPKE OpenBase of `seal_base` output with a worker's key pair; `E2EError` (``e2e_open_failed``)
    if it does not open. ``secret_of``: `decapsulate`, or a cache of it."""
    if len(sealed) < ENC_SIZE + TAG_SIZE:
        raise E2EError("e2e_open_failed", "the envelope's key wrap is too short to open")
    key, nonce = _key_and_nonce(secret_of(pair, sealed[:ENC_SIZE]), info)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, sealed[ENC_SIZE:], None)
    except InvalidTag as exc:
        raise E2EError("e2e_open_failed", "the envelope's key wrap does not open with this key") from exc


def _schedule_secret(dh: bytes, kem_context: bytes) -> bytes:
    """RFC 9180 DHKEM ExtractAndExpand, then KeyScheduleBase's ``secret`` (Base mode: no PSK)."""
    eae_prk = _labeled_extract(_KEM_LABEL, b"", b"eae_prk", dh)
    shared_secret = _labeled_expand(_KEM_LABEL, eae_prk, b"shared_secret", kem_context, _NSECRET)
    return _labeled_extract(_HPKE_LABEL, shared_secret, b"secret", b"")


def _key_and_nonce(secret: bytes, info: bytes) -> tuple[bytes, bytes]:
    """(key, base nonce) of KeyScheduleBase for ``info``."""
    info_hash = _labeled_extract(_HPKE_LABEL, b"", b"info_hash", info)
    context = _MODE_BASE + _PSK_ID_HASH + info_hash
    return (
        _labeled_expand(_HPKE_LABEL, secret, b"key", context, _NK),
        _labeled_expand(_HPKE_LABEL, secret, b"base_nonce", context, _NN),
    )


@dataclass(frozen=True, slots=True)
class HpkeKeyPair:
    """A worker's HPKE key pair: kept in memory only, published in its statement until ``not_after``."""

    private_key: bytes = field(repr=False)
    """The raw 32-byte X25519 private key."""
    public_key: bytes
    key_id: bytes
    not_after: int
    """Unix seconds after which clients should no longer encrypt to it."""

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes], not_after: int) -> HpkeKeyPair:
        """A fresh pair from 32 bytes of ``random_bytes``."""
        return cls.from_private(random_bytes(KEY_SIZE), not_after)

    @classmethod
    def from_private(cls, private_key: bytes, not_after: int) -> HpkeKeyPair:
        """The pair of a raw 32-byte X25519 private key."""
        if len(private_key) != KEY_SIZE:
            raise E2EError(
                "e2e_bad_key", f"an HPKE private key must be {KEY_SIZE} bytes, not {len(private_key)}"
            )
        public = crypto_scalarmult_base(bytes(private_key))
        return cls(bytes(private_key), public, key_id(public), not_after)
