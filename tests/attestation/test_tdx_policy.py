"""The tdx policy: DCAP verification of the real vector inside the RA-TLS policy pipeline.

A real quote cannot be bound to a key we hold (its reportdata is fixed), so tests that need to reach
the steps after the binding wrap the real DCAP verifier and say what they patch.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.dcap import Collateral
from cocoon.attestation.issue import issue_certificate
from cocoon.attestation.policy import Allowlists, QuoteVerdict, QuoteVerifier
from cocoon.attestation.quote_verify import INTEL_ROOT_KEY_ID
from cocoon.attestation.tdx_policy import CollateralStore, DcapQuoteVerifier, ReplayMode, TdxPolicy
from cocoon.errors import CollateralError, PckChainError, PolicyError, QuoteError

IN_WINDOW = int(datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC).timestamp())
TODAY = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp())
DCAP_IMAGE = bytes.fromhex("b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752")
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RAW_KEY = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture(scope="module")
def quote(dcap_quote: bytes) -> bytes:
    return dcap_quote


@pytest.fixture(scope="module")
def collateral(dcap_collateral: Collateral) -> Collateral:
    return dcap_collateral


def cert_with(quote: bytes | None) -> RaTlsCertificate:
    return issue_certificate(KEY, quote=quote, now=IN_WINDOW - 60, serial=7)


class Patched:
    """Wraps the real verifier; after real DCAP verification sets the debug bit and/or binds our key."""

    name = "patched"

    def __init__(self, inner: QuoteVerifier, *, debug: bool = False, bind: bool = False) -> None:
        self.inner, self.debug, self.bind = inner, debug, bind

    def verify(self, quote: bytes, now: float) -> QuoteVerdict:
        verdict = self.inner.verify(quote, now)
        m = verdict.measurements
        if self.debug:
            m = dataclasses.replace(m, td_attributes=bytes([m.td_attributes[0] | 1]) + m.td_attributes[1:])
        if self.bind:
            m = dataclasses.replace(m, report_data=hashlib.sha512(RAW_KEY).digest())
        return dataclasses.replace(verdict, measurements=m)


def test_dcap_quote_verifier_verdict(quote: bytes, collateral: Collateral) -> None:
    verdict = DcapQuoteVerifier(CollateralStore((collateral,))).verify(quote, IN_WINDOW)
    assert verdict.tcb_status == "UpToDate"
    assert verdict.root_key_id == INTEL_ROOT_KEY_ID
    assert verdict.valid_until == collateral.next_update


def test_real_quote_in_foreign_cert_fails_binding(quote: bytes, collateral: Collateral) -> None:
    # DCAP passes, then the quote's reportdata is not SHA-512 of this certificate's key.
    with pytest.raises(QuoteError, match="reportdata is not SHA-512 of the certificate key"):
        TdxPolicy(CollateralStore((collateral,))).verify(cert_with(quote), IN_WINDOW)


def test_bound_quote_accepted_with_image_hash(quote: bytes, collateral: Collateral) -> None:
    policy = TdxPolicy(CollateralStore((collateral,)), Allowlists(image_hashes=frozenset({DCAP_IMAGE})))
    policy.verifier = Patched(policy.verifier, bind=True)
    peer = policy.verify(cert_with(quote), IN_WINDOW)
    assert peer.policy == "tdx" and peer.image_hash == DCAP_IMAGE and peer.public_key == RAW_KEY


def test_image_hash_not_allowed(quote: bytes, collateral: Collateral) -> None:
    policy = TdxPolicy(CollateralStore((collateral,)), Allowlists(image_hashes=frozenset({bytes(32)})))
    policy.verifier = Patched(policy.verifier, bind=True)
    with pytest.raises(PolicyError, match=r"image hash b260fa91.* not allowed"):
        policy.verify(cert_with(quote), IN_WINDOW)


def test_debug_td_rejected(quote: bytes, collateral: Collateral) -> None:
    policy = TdxPolicy(CollateralStore((collateral,)))
    policy.verifier = Patched(policy.verifier, debug=True, bind=True)
    with pytest.raises(PolicyError, match="debug TD"):
        policy.verify(cert_with(quote), IN_WINDOW)


def test_expired_collateral_rejected(quote: bytes, collateral: Collateral) -> None:
    with pytest.raises(CollateralError, match="FMSPC B0C06F000000 is expired"):
        TdxPolicy(CollateralStore((collateral,))).verify(
            issue_certificate(KEY, quote=quote, now=TODAY, serial=7), TODAY
        )


def test_missing_collateral_rejected(quote: bytes) -> None:
    with pytest.raises(CollateralError, match="FMSPC B0C06F000000 is missing"):
        TdxPolicy(CollateralStore()).verify(cert_with(quote), IN_WINDOW)


def test_foreign_root_not_allowed(quote: bytes, collateral: Collateral) -> None:
    policy = TdxPolicy(CollateralStore((collateral,)), Allowlists(root_key_ids=frozenset({bytes(48)})))
    with pytest.raises(PckChainError, match="unknown root"):
        policy.verify(cert_with(quote), IN_WINDOW)


def test_certificate_without_quote_rejected(collateral: Collateral) -> None:
    with pytest.raises(PolicyError, match="requires a TDX quote"):
        TdxPolicy(CollateralStore((collateral,))).verify(cert_with(None), IN_WINDOW)


def test_fake_quote_rejected_by_tdx(collateral: Collateral) -> None:
    with pytest.raises(QuoteError, match="fake quote"):
        TdxPolicy(CollateralStore((collateral,))).verify(
            cert_with(hashlib.sha512(RAW_KEY).digest()), IN_WINDOW
        )


def test_malformed_quote_rejected(collateral: Collateral) -> None:
    with pytest.raises(QuoteError, match="malformed TDX quote: quote: version at offset 0"):
        TdxPolicy(CollateralStore((collateral,))).verify(cert_with(bytes(100)), IN_WINDOW)


def test_store_keeps_newest(collateral: Collateral) -> None:
    older = dataclasses.replace(collateral, issued_at=collateral.issued_at - 10, next_update=IN_WINDOW + 5)
    store = CollateralStore((collateral, older))
    assert store.get("b0c06f000000", IN_WINDOW) is collateral
    assert store.get("B0C06F000000", collateral.next_update) is None
    assert store.get("00906ED50000", IN_WINDOW) is None


def test_store_says_when_collateral_is_needed(quote: bytes, collateral: Collateral) -> None:
    store = CollateralStore()
    assert store.needs_collateral(quote, IN_WINDOW)
    store.put(collateral)
    assert not store.needs_collateral(quote, IN_WINDOW)
    assert store.needs_collateral(quote, collateral.next_update)


def test_replay_mode_verifies_at_the_pinned_time_and_skips_only_the_binding(
    quote: bytes, collateral: Collateral
) -> None:
    cert = issue_certificate(KEY, quote=quote, now=TODAY - 60, serial=8)  # a certificate valid today
    peer = TdxPolicy(CollateralStore((collateral,)), replay=ReplayMode(IN_WINDOW)).verify(cert, TODAY)
    assert peer.image_hash == DCAP_IMAGE
    strict = TdxPolicy(CollateralStore((collateral,)), replay=ReplayMode(IN_WINDOW, skip_key_binding=False))
    with pytest.raises(QuoteError, match="bound to a different key"):
        strict.verify(cert, TODAY)
    with pytest.raises(CollateralError, match="expired"):  # without replay: verified today
        TdxPolicy(CollateralStore((collateral,))).verify(cert, TODAY)


def test_debug_td_refused_from_the_quote_before_its_signature(quote: bytes, collateral: Collateral) -> None:
    debug = bytearray(quote)
    debug[48 + 16 + 48 + 48 + 8] |= 1  # td_attributes bit 0: the signature no longer verifies
    with pytest.raises(PolicyError, match="refused before verifying the quote"):
        TdxPolicy(CollateralStore((collateral,))).verify(cert_with(bytes(debug)), IN_WINDOW)
    with pytest.raises(QuoteError):  # allowed debug: the modified quote is then refused as forged
        TdxPolicy(CollateralStore((collateral,)), allow_debug=True).verify(cert_with(bytes(debug)), IN_WINDOW)
