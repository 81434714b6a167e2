"""User claims carried in an RA-TLS certificate and the reportdata that binds a quote to them.

The reference serializes the claims as exactly the certificate's raw 32-byte Ed25519 public key, and
the quote's reportdata is SHA-512 of those 32 bytes. Ours may append a statement signed by the same
key after the key (spec/attestation.md, "ours, compatible extension"); the reference ignores the
extension's content, so the binding stays SHA-512 of the key alone and the statement is kept as
opaque bytes here (its format and signature check live elsewhere).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cocoon.errors import CertificateError

PUBLIC_KEY_SIZE = 32
REPORT_DATA_SIZE = 64


@dataclass(frozen=True, slots=True)
class UserClaims:
    """The claims extension: the 32-byte Ed25519 public key, then optional statement bytes."""

    public_key: bytes
    statement: bytes = b""

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_SIZE:
            raise CertificateError(
                f"user claims must start with a {PUBLIC_KEY_SIZE}-byte Ed25519 key, got "
                f"{len(self.public_key)} bytes; issue the certificate again"
            )

    def encode(self) -> bytes:
        """The extension's bytes: key then statement (exactly the key when there is no statement)."""
        return self.public_key + self.statement

    @classmethod
    def decode(cls, data: bytes) -> UserClaims:
        """Split the extension's bytes; anything after the key is the statement, kept verbatim."""
        if len(data) < PUBLIC_KEY_SIZE:
            raise CertificateError(
                f"user claims extension is {len(data)} bytes, shorter than a {PUBLIC_KEY_SIZE}-byte key; "
                "the peer's certificate is malformed"
            )
        return cls(public_key=bytes(data[:PUBLIC_KEY_SIZE]), statement=bytes(data[PUBLIC_KEY_SIZE:]))

    @property
    def report_data(self) -> bytes:
        """The 64-byte reportdata a quote for these claims must carry."""
        return report_data_for(self.public_key)


def report_data_for(public_key: bytes) -> bytes:
    """SHA-512 of the raw 32-byte public key: the reportdata that binds a quote to that key."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise CertificateError(f"expected a {PUBLIC_KEY_SIZE}-byte Ed25519 key, got {len(public_key)} bytes")
    return hashlib.sha512(public_key).digest()
