"""Issue RA-TLS certificates in the reference format (a pure builder: every input is an argument).

Layout (reference ``generate_self_signed_cert``): subject = issuer = ``C=AE, ST=DUBAI, O=TDLib
Development, OU=Security, CN=localhost``; serial = 128 random bits; validity ``[now, now + 1 day]``;
extensions in this order: TDX quote and user claims (both critical, raw bytes as the extension value),
BasicConstraints CA:FALSE, KeyUsage digitalSignature, EKU serverAuth+clientAuth (all three critical),
SubjectKeyIdentifier, SubjectAltName ``DNS:localhost, DNS:127.0.0.1, IP:::1``.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cocoon.attestation.certificate import (
    MAX_QUOTE_SIZE,
    TDX_QUOTE_OID,
    TDX_USER_CLAIMS_OID,
    VALIDITY_SECONDS,
    RaTlsCertificate,
    parse_certificate,
)
from cocoon.attestation.claims import UserClaims
from cocoon.errors import CertificateError

SERIAL_BYTES = 16

SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "AE"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "DUBAI"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TDLib Development"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Security"),
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
    ]
)
# The reference's SAN builder treats dotted names as DNS names, hence DNS:127.0.0.1.
SUBJECT_ALT_NAMES = x509.SubjectAlternativeName(
    [
        x509.DNSName("localhost"),
        x509.DNSName("127.0.0.1"),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
)


CLOCK_SKEW_S = 300
"""How far before its issue time a certificate's validity starts (clock skew between peers)."""


def serial_from_bytes(random_bytes: bytes) -> int:
    """A positive certificate serial from 16 random bytes (X.509 forbids zero)."""
    if len(random_bytes) != SERIAL_BYTES:
        raise ValueError(f"a serial needs exactly {SERIAL_BYTES} random bytes")
    return int.from_bytes(random_bytes, "big") or 1


def issue_certificate(
    private_key: Ed25519PrivateKey,
    *,
    quote: bytes | None,
    now: float,
    serial: int,
    statement: bytes = b"",
) -> RaTlsCertificate:
    """Build and sign a certificate for ``private_key`` valid from ``now`` for one day.

    ``quote`` must already be bound to the key (reportdata = SHA-512 of the raw public key); ``None``
    issues an unattested certificate that only the ``any`` policy accepts. ``statement`` is appended
    to the claims after the key.
    """
    if quote is not None and len(quote) > MAX_QUOTE_SIZE:
        raise CertificateError(f"quote is {len(quote)} bytes; at most {MAX_QUOTE_SIZE} fit a certificate")
    if not 0 < serial < 1 << (8 * SERIAL_BYTES):
        raise ValueError("serial must be a positive 128-bit number")
    public_key = private_key.public_key()
    raw_key = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # Backdated a little: a peer whose clock runs behind ours must not see a fresh certificate as
    # "not yet valid" (the validity window keeps its length of VALIDITY_SECONDS).
    not_before = int(now) - CLOCK_SKEW_S
    builder = (
        x509.CertificateBuilder()
        .subject_name(SUBJECT)
        .issuer_name(SUBJECT)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(datetime.fromtimestamp(not_before, tz=UTC))
        .not_valid_after(datetime.fromtimestamp(not_before + VALIDITY_SECONDS, tz=UTC))
    )
    if quote is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(TDX_QUOTE_OID, quote), critical=True)
    claims = UserClaims(public_key=raw_key, statement=statement).encode()
    builder = builder.add_extension(x509.UnrecognizedExtension(TDX_USER_CLAIMS_OID, claims), critical=True)
    builder = _add_standard_extensions(builder, public_key)
    der = builder.sign(private_key, algorithm=None).public_bytes(serialization.Encoding.DER)
    return parse_certificate(der, now=int(now))


def _add_standard_extensions(
    builder: x509.CertificateBuilder, public_key: Ed25519PublicKey
) -> x509.CertificateBuilder:
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(eku, critical=True)
        .add_extension(ski, critical=False)
        .add_extension(SUBJECT_ALT_NAMES, critical=False)
    )
