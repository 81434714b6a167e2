"""Node identities (certificate refresh) and quote providers."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.issue import CLOCK_SKEW_S, issue_certificate
from cocoon.attestation.policy import FakePolicy
from cocoon.attestation.providers import FakeQuoteProvider, StaticQuoteProvider
from cocoon.errors import QuoteError

NOW = 1_763_000_000.0


def _random() -> Callable[[int], bytes]:
    """Deterministic 'randomness': serials 1, 2, 3..."""
    counter = itertools.count(1)
    return lambda n: next(counter).to_bytes(n, "big")


def test_fake_provider_returns_reportdata() -> None:
    rd = hashlib.sha512(b"k").digest()
    assert FakeQuoteProvider().quote(rd) == rd
    with pytest.raises(QuoteError, match="64 bytes"):
        FakeQuoteProvider().quote(b"short")
    assert StaticQuoteProvider(b"q" * 5000).quote(rd) == b"q" * 5000


def test_identity_issues_fresh_certificates_for_the_same_key() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
    identity = NodeIdentity.create(key, FakeQuoteProvider(), _random(), NOW, statement=b"s")
    first = identity.certificate
    assert first.serial == 1
    assert first.quote == hashlib.sha512(identity.public_key).digest()
    assert first.statement == b"s"
    FakePolicy().verify(first, NOW)
    assert not identity.needs_refresh(NOW + 3599)
    assert identity.needs_refresh(NOW + 3600)
    second = identity.issue(NOW + 3600)
    assert identity.certificate is second
    assert second.serial == 2 and second.not_before == int(NOW + 3600) - CLOCK_SKEW_S
    assert second.public_key == first.public_key


def test_identity_without_provider_issues_unattested_certificates() -> None:
    identity = NodeIdentity(Ed25519PrivateKey.generate(), None, _random())
    assert identity.needs_refresh(NOW)
    with pytest.raises(RuntimeError, match="issue"):
        _ = identity.certificate
    assert identity.issue(NOW).quote is None


def test_install_requires_the_identitys_key() -> None:
    key = Ed25519PrivateKey.generate()
    identity = NodeIdentity(key, None, _random())
    identity.install(issue_certificate(key, quote=None, now=NOW, serial=9))
    assert identity.certificate.serial == 9
    with pytest.raises(ValueError, match="different key"):
        identity.install(issue_certificate(Ed25519PrivateKey.generate(), quote=None, now=NOW, serial=9))
