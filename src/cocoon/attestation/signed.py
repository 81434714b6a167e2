"""Ed25519 signatures over domain-separated messages, made with a node's certificate key (pure).

One key signs several kinds of data: its own certificate (X.509 TBS bytes), TLS handshakes (TLS 1.3
CertificateVerify has its own context string), claims statements and answer receipts. Each of ours is
signed as ``domain || body`` with a distinct NUL-terminated domain, so a signature made for one kind
can never be presented as another.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cocoon.errors import AttestationError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

STATEMENT_DOMAIN = b"cocoon/claims-statement/v1\x00"
RECEIPT_DOMAIN = b"cocoon/answer-receipt/v1\x00"


def sign(private_key: Ed25519PrivateKey, domain: bytes, body: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``domain || body``."""
    return private_key.sign(domain + body)


def verify(
    public_key: bytes, domain: bytes, body: bytes, signature: bytes, error: type[AttestationError], what: str
) -> None:
    """Check ``signature`` over ``domain || body`` with a raw 32-byte key; raise ``error`` naming ``what``."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise error(f"{what}: signer key must be {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        raise error(f"{what}: signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, domain + body)
    except InvalidSignature as exc:
        raise error(
            f"{what}: signature does not verify with key {public_key.hex()[:16]}…; "
            "the data was altered or signed by another key"
        ) from exc
