"""Policies without sockets: any, fake, and the attested pipeline with a stand-in quote verifier."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.certificate import VALIDITY_SECONDS, RaTlsCertificate
from cocoon.attestation.claims import report_data_for
from cocoon.attestation.issue import issue_certificate
from cocoon.attestation.measurements import FAKE_IMAGE_HASH, TdMeasurements, image_hash
from cocoon.attestation.policy import (
    Allowlists,
    AnyPolicy,
    AttestationPolicy,
    FakePolicy,
    QuoteVerdict,
)
from cocoon.errors import CertificateError, PolicyError, QuoteError

NOW = 1_763_000_000.0
KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(b"\x08" * 32)


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


BOUND_QUOTE = report_data_for(_raw(KEY))


def _cert(quote: bytes | None = BOUND_QUOTE, statement: bytes = b"") -> RaTlsCertificate:
    return issue_certificate(KEY, quote=quote, now=NOW, serial=2, statement=statement)


class MeasuredVerifier:
    """Stands in for the DCAP verifier: the 'quote' is reportdata, measurements are given."""

    name = "measured"

    def __init__(self, measurements: TdMeasurements, root_key_id: bytes = b"\x46" * 48) -> None:
        self.measurements = measurements
        self.root_key_id = root_key_id
        self.calls = 0

    def verify(self, quote: bytes, now: float) -> QuoteVerdict:
        self.calls += 1
        return QuoteVerdict(replace(self.measurements, report_data=quote), root_key_id=self.root_key_id)


def test_fake_policy_accepts_fake_quote_with_zero_measurements() -> None:
    cert = _cert(statement=b"facts")
    peer = FakePolicy().verify(cert, NOW)
    assert peer.public_key == cert.public_key
    assert peer.policy == "fake"
    assert peer.measurements == TdMeasurements(report_data=hashlib.sha512(cert.public_key).digest())
    assert peer.image_hash == FAKE_IMAGE_HASH
    assert peer.quote == cert.quote
    assert peer.statement == b"facts"
    assert peer.certificate_sha256 == cert.fingerprint
    assert peer.is_attested


def test_quote_bound_to_another_key_fails() -> None:
    stolen = report_data_for(_raw(OTHER_KEY))
    with pytest.raises(QuoteError, match="bound to a different key"):
        FakePolicy().verify(_cert(quote=stolen), NOW)


def test_certificate_without_quote_fails_attested_policies() -> None:
    with pytest.raises(PolicyError, match="requires a TDX quote"):
        FakePolicy().verify(_cert(quote=None), NOW)


def test_fake_quote_of_wrong_size_fails() -> None:
    with pytest.raises(QuoteError, match="exactly 64 bytes"):
        FakePolicy().verify(_cert(quote=bytes(5000)), NOW)


def test_fake_policy_image_allowlist() -> None:
    assert FakePolicy(frozenset({FAKE_IMAGE_HASH})).verify(_cert(), NOW).image_hash == FAKE_IMAGE_HASH
    other = bytes(32)
    with pytest.raises(PolicyError, match=f"image hash {FAKE_IMAGE_HASH.hex()} not allowed"):
        FakePolicy(frozenset({other})).verify(_cert(), NOW)


@pytest.mark.parametrize("policy", [AnyPolicy(), FakePolicy()], ids=["any", "fake"])
def test_policies_recheck_validity(policy: AnyPolicy | FakePolicy) -> None:
    with pytest.raises(CertificateError, match="expired"):
        policy.verify(_cert(), NOW + VALIDITY_SECONDS + 1)


def test_any_policy_accepts_plain_and_quoted_certificates_unattested() -> None:
    for cert in (_cert(quote=None), _cert(), _cert(quote=b"garbage quote")):
        peer = AnyPolicy().verify(cert, NOW)
        assert peer.policy == "any"
        assert peer.measurements is None and peer.image_hash is None
        assert not peer.is_attested
        assert peer.quote == cert.quote


def test_debug_td_is_refused_unless_allowed() -> None:
    debug = TdMeasurements(td_attributes=b"\x01" + bytes(7))
    with pytest.raises(PolicyError, match="debug TD"):
        AttestationPolicy("tdx", MeasuredVerifier(debug)).verify(_cert(), NOW)
    peer = AttestationPolicy("tdx", MeasuredVerifier(debug), allow_debug=True).verify(_cert(), NOW)
    assert peer.measurements is not None and peer.measurements.is_debug


def test_allowlists_mrtd_rtmr_and_root_key() -> None:
    m = TdMeasurements(mr_td=b"\x11" * 48, rtmr0=b"\x22" * 48)
    rtmrs = m.rtmrs
    ok = Allowlists(
        image_hashes=frozenset({image_hash(m)}),
        mr_tds=frozenset({m.mr_td}),
        rtmr_sets=frozenset({rtmrs}),
        root_key_ids=frozenset({b"\x46" * 48}),
    )
    verifier = MeasuredVerifier(m)
    peer = AttestationPolicy("tdx", verifier, ok).verify(_cert(), NOW)
    assert peer.image_hash == image_hash(m)
    assert verifier.calls == 1
    refusals = [
        (replace(ok, mr_tds=frozenset({bytes(48)})), "MRTD 1111"),
        (replace(ok, rtmr_sets=frozenset({(bytes(48),) * 4})), "RTMR set not allowed"),
        (replace(ok, image_hashes=frozenset({FAKE_IMAGE_HASH})), "image hash .* not allowed"),
        (replace(ok, root_key_ids=frozenset({bytes(48)})), "root key id 4646"),
    ]
    for lists, message in refusals:
        with pytest.raises(PolicyError, match=message):
            AttestationPolicy("tdx", MeasuredVerifier(m), lists).verify(_cert(), NOW)
