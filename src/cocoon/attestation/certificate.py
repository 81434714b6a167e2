"""RA-TLS certificates: the parsed, checked form and the parser (reference format, spec/attestation.md).

A certificate is self-signed X.509 v3 with an Ed25519 key and two critical private extensions: the raw
TDX quote (``1.3.6.1.4.1.12345.1``) and the user claims (``1.3.6.1.4.1.12345.2``); plain self-signed
Ed25519 certificates (v1, or v3 without these extensions) parse too, with no quote and no claims.
Parsing checks only what the certificate itself can prove (key type, self-signature, validity,
extensions, sizes); whether the quote is genuine and acceptable is a policy's job
(`cocoon.attestation.policy`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from cocoon.attestation.claims import UserClaims
from cocoon.errors import CertificateError

TDX_QUOTE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.12345.1")
TDX_USER_CLAIMS_OID = x509.ObjectIdentifier("1.3.6.1.4.1.12345.2")
MAX_QUOTE_SIZE = 32 * 1024
VALIDITY_SECONDS = 86_400

# Critical extensions a verifier understands. Anything else marked critical must make it refuse the
# certificate (RFC 5280 4.2), exactly as the reference does for unknown critical OIDs.
KNOWN_CRITICAL_EXTENSIONS = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        TDX_QUOTE_OID,
        TDX_USER_CLAIMS_OID,
    }
)


@dataclass(frozen=True, slots=True)
class RaTlsCertificate:
    """A structurally valid RA-TLS certificate; times are Unix seconds."""

    public_key: bytes
    """Raw 32-byte Ed25519 public key."""
    quote: bytes | None
    """Raw TDX quote (or a fake one), ``None`` when the certificate carries none."""
    claims: UserClaims | None
    """The claims extension as sent, ``None`` when absent (verifiers rebuild claims from the key)."""
    not_before: int
    not_after: int
    serial: int
    der: bytes

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the DER encoding (32 bytes)."""
        return hashlib.sha256(self.der).digest()

    @property
    def statement(self) -> bytes:
        """Signed-statement bytes that follow the key in the claims extension (empty if none)."""
        return self.claims.statement if self.claims is not None else b""

    def check_validity(self, now: float) -> None:
        """Raise `CertificateError` unless ``not_before <= now <= not_after``."""
        if now < self.not_before:
            raise CertificateError(
                f"certificate is not yet valid: valid from {_iso(self.not_before)}, now is {_iso(now)}; "
                "check both clocks"
            )
        if now > self.not_after:
            raise CertificateError(
                f"certificate expired at {_iso(self.not_after)}, now is {_iso(now)}; "
                "the peer must refresh its certificate"
            )


def parse_certificate(der: bytes, now: float) -> RaTlsCertificate:
    """Parse and check a DER certificate at time ``now``; raise `CertificateError` saying what is wrong."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(f"peer certificate is not valid DER X.509: {exc}") from exc
    public_key = _ed25519_key(cert)
    _check_self_signed(cert, public_key)
    extensions = _extensions(cert)
    quote = _extension_bytes(extensions, TDX_QUOTE_OID)
    if quote is not None and len(quote) > MAX_QUOTE_SIZE:
        raise CertificateError(
            f"quote extension is {len(quote)} bytes, above the {MAX_QUOTE_SIZE}-byte limit; refusing it"
        )
    raw_key = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    claims = _claims(extensions, raw_key)
    parsed = RaTlsCertificate(
        public_key=raw_key,
        quote=quote,
        claims=claims,
        not_before=int(cert.not_valid_before_utc.timestamp()),
        not_after=int(cert.not_valid_after_utc.timestamp()),
        serial=cert.serial_number,
        der=bytes(der),
    )
    parsed.check_validity(now)
    return parsed


def _ed25519_key(cert: x509.Certificate) -> Ed25519PublicKey:
    # X.509 v1 (no extensions) is accepted (cryptography loads no other version than v1 and v3):
    # COCOON's unattested peers present such plain self-signed certificates (the reference's router and
    # runners in direct mode). Without extensions there is no quote, so only a policy that requires no
    # attestation (`AnyPolicy`) accepts them.
    try:
        key = cert.public_key()
    except ValueError as exc:
        raise CertificateError(f"certificate public key cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError(f"certificate key is {type(key).__name__}, but RA-TLS requires Ed25519")
    return key


def _check_self_signed(cert: x509.Certificate, key: Ed25519PublicKey) -> None:
    if cert.issuer != cert.subject:
        raise CertificateError("certificate is not self-signed: issuer differs from subject")
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ED25519:
        raise CertificateError("certificate is not signed with Ed25519")
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature as exc:
        raise CertificateError("certificate self-signature does not verify: it was altered") from exc


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    try:
        extensions = cert.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise CertificateError(f"certificate extensions are malformed: {exc}") from exc
    for ext in extensions:
        if ext.critical and ext.oid not in KNOWN_CRITICAL_EXTENSIONS:
            raise CertificateError(
                f"certificate has an unknown critical extension {ext.oid.dotted_string}; refusing it"
            )
    return extensions


def _extension_bytes(extensions: x509.Extensions, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        ext = extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):  # pragma: no cover - private OIDs stay unknown
        raise CertificateError(f"extension {oid.dotted_string} has an unexpected form")
    return bytes(value.value)


def _claims(extensions: x509.Extensions, raw_key: bytes) -> UserClaims | None:
    data = _extension_bytes(extensions, TDX_USER_CLAIMS_OID)
    if data is None:
        return None
    claims = UserClaims.decode(data)
    # The reference ignores this extension and rebuilds claims from the key; a claims key that
    # differs from the certificate key can only come from a broken or malicious issuer.
    if claims.public_key != raw_key:
        raise CertificateError("user claims name a different key than the certificate's own key")
    return claims


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds")
