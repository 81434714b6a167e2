"""RA-TLS certificate issue and parse: reference layout, round trip, and every refusal."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from hypothesis import given
from hypothesis import strategies as st

from cocoon.attestation.certificate import (
    MAX_QUOTE_SIZE,
    TDX_QUOTE_OID,
    TDX_USER_CLAIMS_OID,
    VALIDITY_SECONDS,
    parse_certificate,
)
from cocoon.attestation.claims import UserClaims, report_data_for
from cocoon.attestation.issue import CLOCK_SKEW_S, SUBJECT, issue_certificate, serial_from_bytes
from cocoon.errors import CertificateError

NOW = 1_763_000_000.0
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RAW_KEY = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
FAKE_QUOTE = report_data_for(RAW_KEY)
SERIAL = 0x8000_0000_0000_0000_0000_0000_0000_0001


def _issue(**kwargs: object) -> bytes:
    args: dict[str, object] = {"quote": FAKE_QUOTE, "now": NOW, "serial": SERIAL} | kwargs
    return issue_certificate(KEY, **args).der  # type: ignore[arg-type]


def _build(
    *,
    key: object = KEY,
    issuer: x509.Name = SUBJECT,
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    not_before: float = NOW,
) -> bytes:
    """A certificate outside what `issue_certificate` allows, for refusal tests."""
    public_key = key.public_key()  # type: ignore[attr-defined]
    builder = (
        x509.CertificateBuilder()
        .subject_name(SUBJECT)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(SERIAL)
        .not_valid_before(datetime.fromtimestamp(not_before, tz=UTC))
        .not_valid_after(datetime.fromtimestamp(not_before + VALIDITY_SECONDS, tz=UTC))
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    algorithm = hashes.SHA256() if isinstance(key, ec.EllipticCurvePrivateKey) else None
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def test_round_trip_keeps_key_quote_claims_and_times() -> None:
    cert = parse_certificate(_issue(statement=b"signed facts"), now=NOW + 10)
    assert cert.public_key == RAW_KEY
    assert cert.quote == FAKE_QUOTE
    assert cert.claims == UserClaims(public_key=RAW_KEY, statement=b"signed facts")
    assert cert.statement == b"signed facts"
    assert cert.not_before == int(NOW) - CLOCK_SKEW_S  # backdated for peers whose clocks run behind
    assert cert.not_after - cert.not_before == VALIDITY_SECONDS == 86_400
    assert cert.serial == SERIAL
    assert cert.fingerprint == hashlib.sha256(cert.der).digest()


def test_layout_matches_reference() -> None:
    cert = x509.load_der_x509_certificate(_issue())
    assert cert.version is x509.Version.v3
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=localhost,OU=Security,O=TDLib Development,ST=DUBAI,C=AE"
    ext = {e.oid: e for e in cert.extensions}
    assert [e.oid for e in cert.extensions][:2] == [TDX_QUOTE_OID, TDX_USER_CLAIMS_OID]
    critical = {oid for oid, e in ext.items() if e.critical}
    assert critical == {
        TDX_QUOTE_OID,
        TDX_USER_CLAIMS_OID,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
    }
    assert ext[ExtensionOID.BASIC_CONSTRAINTS].value.ca is False
    assert ext[ExtensionOID.KEY_USAGE].value.digital_signature is True
    assert ext[ExtensionOID.KEY_USAGE].value.key_cert_sign is False
    assert list(ext[ExtensionOID.EXTENDED_KEY_USAGE].value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    assert ext[ExtensionOID.SUBJECT_KEY_IDENTIFIER].value == x509.SubjectKeyIdentifier.from_public_key(
        KEY.public_key()
    )
    san = ext[ExtensionOID.SUBJECT_ALTERNATIVE_NAME].value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "127.0.0.1"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["::1"]
    assert ext[TDX_QUOTE_OID].value.value == FAKE_QUOTE
    assert ext[TDX_USER_CLAIMS_OID].value.value == RAW_KEY  # claims = exactly the key when no statement


def test_serial_is_128_bits_and_never_zero() -> None:
    assert serial_from_bytes(b"\xff" * 16) == (1 << 128) - 1
    assert serial_from_bytes(bytes(16)) == 1
    with pytest.raises(ValueError, match="16 random bytes"):
        serial_from_bytes(bytes(8))
    with pytest.raises(ValueError, match="128-bit"):
        _issue(serial=1 << 128)


def test_certificate_without_quote_parses_with_none() -> None:
    cert = parse_certificate(_issue(quote=None), now=NOW)
    assert cert.quote is None
    assert cert.claims is not None


START = NOW - CLOCK_SKEW_S  # issued at NOW, valid from CLOCK_SKEW_S earlier, for VALIDITY_SECONDS


@pytest.mark.parametrize(
    ("now", "message"),
    [(START - 1, "not yet valid"), (START + VALIDITY_SECONDS + 1, "expired")],
)
def test_validity_window_is_enforced(now: float, message: str) -> None:
    der = _issue()
    with pytest.raises(CertificateError, match=message):
        parse_certificate(der, now=now)
    parse_certificate(der, now=START)  # the first second is valid
    parse_certificate(der, now=START + VALIDITY_SECONDS)  # the last second is still valid


def test_unknown_critical_extension_is_refused_but_noncritical_is_ignored() -> None:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.7"), b"x")
    with pytest.raises(CertificateError, match=r"unknown critical extension 1\.3\.6\.1\.4\.1\.99999\.7"):
        parse_certificate(_build(extensions=((odd, True),)), now=NOW)
    assert parse_certificate(_build(extensions=((odd, False),)), now=NOW).quote is None


def test_non_ed25519_key_is_refused() -> None:
    der = _build(key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CertificateError, match="requires Ed25519"):
        parse_certificate(der, now=NOW)


def test_altered_certificate_fails_its_self_signature() -> None:
    der = bytearray(_issue())
    der[-1] ^= 0x01  # last byte of the signature
    with pytest.raises(CertificateError, match="self-signature does not verify"):
        parse_certificate(bytes(der), now=NOW)


def test_issuer_must_equal_subject() -> None:
    other = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "someone else")])
    with pytest.raises(CertificateError, match="not self-signed"):
        parse_certificate(_build(issuer=other), now=NOW)


def test_oversized_quote_is_refused_on_issue_and_on_parse() -> None:
    big = bytes(MAX_QUOTE_SIZE + 1)
    with pytest.raises(CertificateError, match="at most 32768"):
        _issue(quote=big)
    der = _build(extensions=((x509.UnrecognizedExtension(TDX_QUOTE_OID, big), True),))
    with pytest.raises(CertificateError, match="above the 32768-byte limit"):
        parse_certificate(der, now=NOW)
    exact = _build(extensions=((x509.UnrecognizedExtension(TDX_QUOTE_OID, big[:-1]), True),))
    assert len(parse_certificate(exact, now=NOW).quote or b"") == MAX_QUOTE_SIZE


def test_claims_must_hold_this_certificates_key() -> None:
    short = x509.UnrecognizedExtension(TDX_USER_CLAIMS_OID, RAW_KEY[:31])
    with pytest.raises(CertificateError, match="shorter than a 32-byte key"):
        parse_certificate(_build(extensions=((short, True),)), now=NOW)
    foreign = x509.UnrecognizedExtension(TDX_USER_CLAIMS_OID, bytes(32))
    with pytest.raises(CertificateError, match="different key"):
        parse_certificate(_build(extensions=((foreign, True),)), now=NOW)


def test_garbage_is_not_a_certificate() -> None:
    with pytest.raises(CertificateError, match="not valid DER"):
        parse_certificate(b"\x30\x03\x02\x01\x00", now=NOW)


def test_claims_decode_keeps_trailing_statement() -> None:
    claims = UserClaims.decode(RAW_KEY + b"\x81\xa1v\x01")
    assert claims.public_key == RAW_KEY
    assert claims.statement == b"\x81\xa1v\x01"
    assert claims.encode() == RAW_KEY + b"\x81\xa1v\x01"
    assert claims.report_data == hashlib.sha512(RAW_KEY).digest()


@given(statement=st.binary(max_size=512))
def test_claims_encode_decode_round_trip(statement: bytes) -> None:
    claims = UserClaims(public_key=RAW_KEY, statement=statement)
    assert UserClaims.decode(claims.encode()) == claims
