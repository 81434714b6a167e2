"""Offline verification of a TDX quote's cryptography (no collateral, no network).

What this proves: the quote was signed by an attestation key that a genuine Intel quoting enclave
(its QE report signed by a PCK certificate chaining to Intel's SGX Root CA) vouched for. What it does
not prove: that the platform's TCB is current or the PCK not revoked; that needs DCAP collateral
(:mod:`cocoon.attestation.dcap`).

The root is pinned by the SHA-384 of its uncompressed EC public key (Intel's "root key id"), so the
chain inside the quote can be checked without shipping the root certificate.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cocoon.attestation.quote import Quote
from cocoon.errors import PckChainError, QuoteSignatureError

INTEL_ROOT_KEY_ID = bytes.fromhex(
    "46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993"
)
"""SHA-384 of the Intel SGX Root CA public key (uncompressed point), as in the reference's router."""

DEFAULT_ROOT_KEY_IDS = frozenset({INTEL_ROOT_KEY_ID})


@dataclass(frozen=True, slots=True)
class OfflineVerdict:
    """The facts an offline verification established."""

    root_key_id: bytes
    pck_subject: str
    pck_not_after: int


def verify_quote_offline(
    quote: Quote, now: int, *, root_key_ids: frozenset[bytes] = DEFAULT_ROOT_KEY_IDS
) -> OfflineVerdict:
    """Check the PCK chain, QE report signature, the key binding and the quote signature at ``now``.

    ``now`` is Unix seconds. Raises PckChainError or QuoteSignatureError naming the failed step.
    """
    chain = load_pck_chain(quote.signature.pck_chain_pem)
    root_key_id = check_pck_chain(chain, now, root_key_ids)
    sig = quote.signature
    leaf_key = chain[0].public_key()
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey):
        raise PckChainError("PCK leaf certificate key is not an EC key; the quote is not from an Intel QE")
    _verify_p256(leaf_key, sig.qe_report_signature, sig.qe_report.raw, "QE report signature (PCK key)")
    check_qe_binding(quote)
    attestation_key = _p256_from_raw(sig.attestation_key)
    _verify_p256(attestation_key, sig.ecdsa_signature, quote.signed_bytes, "quote signature")
    return OfflineVerdict(
        root_key_id=root_key_id,
        pck_subject=chain[0].subject.rfc4514_string(),
        pck_not_after=int(chain[0].not_valid_after_utc.timestamp()),
    )


def load_pck_chain(pem: bytes) -> list[x509.Certificate]:
    """The certificates of the PEM chain, leaf first (trailing NULs from the QE are ignored).

    cryptography parses lazily and reports malformed input through an open set of exception types
    (ValueError, InvalidVersion, DuplicateExtension, UnsupportedAlgorithm, warnings...), on load or on
    first access to a field; so every field we use is decoded here, and any failure means "corrupt".
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. a malformed name attribute: corrupt, not Intel's
            certs = x509.load_pem_x509_certificates(pem.rstrip(b"\0"))
            for cert in certs:
                _ = (cert.subject, cert.issuer, cert.extensions, cert.not_valid_before_utc)
                _ = (cert.not_valid_after_utc, cert.public_key())
    except Exception as exc:
        raise PckChainError(f"PCK certificate chain does not parse ({exc}); the quote is corrupt") from exc
    if len(certs) < 2:
        raise PckChainError(f"PCK chain has {len(certs)} certificate(s), need leaf..root; quote is corrupt")
    return certs


def root_key_id(cert: x509.Certificate) -> bytes:
    """SHA-384 of a certificate's EC public key as an uncompressed point (Intel's root key id)."""
    point = cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return hashlib.sha384(point).digest()


def check_pck_chain(chain: list[x509.Certificate], now: int, root_key_ids: frozenset[bytes]) -> bytes:
    """Each certificate issued by the next, issuers are CAs, all valid at ``now``, root pinned."""
    moment = datetime.fromtimestamp(now, UTC)
    root = chain[-1]
    key_id = root_key_id(root)
    if key_id not in root_key_ids:
        raise PckChainError(
            f"PCK chain ends at an unknown root (key id {key_id.hex()[:16]}…), not Intel's SGX Root CA"
        )
    for cert, issuer in zip(chain, [*chain[1:], root], strict=True):
        name = cert.subject.rfc4514_string()
        if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
            raise PckChainError(
                f"certificate {name!r} is not valid at {moment:%Y-%m-%dT%H:%M:%SZ} "
                f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
            )
        if issuer is not cert and not _is_ca(issuer):
            raise PckChainError(f"certificate {issuer.subject.rfc4514_string()!r} is not a CA")
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, UnsupportedAlgorithm, InvalidSignature) as exc:
            raise PckChainError(f"certificate {name!r} is not signed by its issuer in the PCK chain") from exc
    return key_id


def check_qe_binding(quote: Quote) -> None:
    """The QE report's reportdata must be SHA-256(attestation key || QE auth data) || 32 zero bytes."""
    sig = quote.signature
    expected = hashlib.sha256(sig.attestation_key + sig.qe_auth_data).digest() + bytes(32)
    if sig.qe_report.report_data != expected:
        raise QuoteSignatureError(
            "QE report does not bind the attestation key (reportdata != SHA-256(key || auth data))"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _p256_from_raw(raw: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError as exc:
        raise QuoteSignatureError("attestation key is not a valid P-256 point; the quote is corrupt") from exc


def _verify_p256(key: ec.EllipticCurvePublicKey, raw_sig: bytes, data: bytes, what: str) -> None:
    """Verify a raw r||s (2 x 32 bytes big-endian) ECDSA-SHA256 signature."""
    r = int.from_bytes(raw_sig[:32], "big")
    s = int.from_bytes(raw_sig[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise QuoteSignatureError(f"{what} does not verify; the quote was altered or forged") from exc
