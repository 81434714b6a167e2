"""Ed25519 signatures over domain-separated messages, made with a node's certificate key (pure).

One key signs several kinds of data: its own certificate (X.509 TBS bytes), TLS handshakes (TLS 1.3
CertificateVerify has its own context string), claims statements and answer receipts. Each of ours is
signed as ``domain || body`` with a distinct NUL-terminated domain, so a signature made for one kind
can never be presented as another.

Signing and verification run in libsodium (two thirds and half the CPU of OpenSSL's Ed25519 here;
its checks are stricter: it also refuses small-order keys and points). Parsed keys are cached by their
exact bytes, and a caller that sees the same signed bytes again and again (a worker's statement on
every answer) can ask for the verdict to be remembered, keyed by the exact (key, message, signature)
bytes: any changed input is checked afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from cocoon.errors import AttestationError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

STATEMENT_DOMAIN = b"cocoon/claims-statement/v1\x00"
RECEIPT_DOMAIN = b"cocoon/answer-receipt/v1\x00"

SIGNING_CACHE_SIZE = 8
"""Our own signing keys kept in libsodium form (a node has one; tests make more)."""

KEY_CACHE_SIZE = 4096
"""Parsed public keys kept (one per peer node seen recently)."""

VERDICT_CACHE_SIZE = 1024
"""Remembered good signatures (``remember=True`` callers: statements, one per worker and renewal)."""

_good: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
"""(key, domain || body, signature) of signatures that verified, least recently used first."""


@lru_cache(maxsize=KEY_CACHE_SIZE)
def _verify_key(public_key: bytes) -> VerifyKey:
    return VerifyKey(public_key)


def sign(private_key: Ed25519PrivateKey, domain: bytes, body: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``domain || body`` (deterministic: the same bytes as OpenSSL's,
    made in libsodium at about two thirds of the cost)."""
    return crypto_sign(domain + body, _sodium_pair(private_key)[1])[:SIGNATURE_SIZE]


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key of one of our signing keys (cached with its libsodium form: a
    worker names it in every receipt)."""
    return _sodium_pair(private_key)[0]


@lru_cache(maxsize=SIGNING_CACHE_SIZE)
def _sodium_pair(private_key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """(raw public key, libsodium's 64-byte secret key) of a signing key; the key object is immutable,
    so caching it by identity is safe."""
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public, secret = crypto_sign_seed_keypair(seed)
    return public, secret


def verify(
    public_key: bytes,
    domain: bytes,
    body: bytes,
    signature: bytes,
    error: type[AttestationError],
    what: str,
    *,
    remember: bool = False,
) -> None:
    """Check ``signature`` over ``domain || body`` with a raw 32-byte key; raise ``error`` naming ``what``.

    ``remember``: keep the verdict of a good signature for the same exact bytes (for data verified
    over and over, such as statements; pointless for receipts, which are each signed once).
    """
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise error(f"{what}: signer key must be {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        raise error(f"{what}: signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    message = domain + body
    entry = (bytes(public_key), message, bytes(signature))
    if remember and entry in _good:
        _good.move_to_end(entry)
        return
    try:
        _verify_key(entry[0]).verify(message, entry[2])
    except (BadSignatureError, CryptoError) as exc:  # CryptoError: a key libsodium refuses outright
        raise error(
            f"{what}: signature does not verify with key {public_key.hex()[:16]}…; "
            "the data was altered or signed by another key"
        ) from exc
    if remember:
        _good[entry] = None
        if len(_good) > VERDICT_CACHE_SIZE:
            _good.popitem(last=False)
