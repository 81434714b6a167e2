"""A node's TLS identity: its Ed25519 key and the RA-TLS certificate currently presented for it.

Certificates live one day and are refreshed hourly (reference: ``cocoon-cert-refresh.timer``). The
key stays the same across refreshes, so peers keep recognising the node; a refresh only affects
connections opened afterwards, live ones keep the certificate they were established with. Time and
randomness come from the caller.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.claims import report_data_for
from cocoon.attestation.issue import SERIAL_BYTES, issue_certificate, serial_from_bytes
from cocoon.attestation.providers import QuoteProvider
from cocoon.attestation.statement import Statement, sign_statement
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.suite import SUITE

REFRESH_AFTER_SECONDS = 3600.0


class NodeIdentity:
    """Private key plus the current certificate; `issue` replaces the certificate with a fresh one."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        provider: QuoteProvider | None,
        random_bytes: Callable[[int], bytes],
        *,
        statement: bytes = b"",
        claims: Statement | None = None,
        refresh_after: float = REFRESH_AFTER_SECONDS,
        keyring: Keyring | None = None,
    ) -> None:
        """``provider=None`` issues unattested certificates (accepted only by the ``any`` policy).

        ``claims``, when set, is signed afresh into every certificate with ``issued_at`` = the issue
        time (it replaces the fixed ``statement`` bytes). ``keyring``, when set with ``claims``, gets a
        fresh HPKE key pair at every issue, published in the claims (statement v2, spec/e2e.md) and
        valid for two refresh periods (the current one and the overlap).
        """
        self.private_key = private_key
        self.provider = provider
        self.statement = statement
        self.claims = claims
        self.refresh_after = refresh_after
        self.keyring = keyring
        self._random_bytes = random_bytes
        self._certificate: RaTlsCertificate | None = None
        self._issued_at = 0.0

    @classmethod
    def create(
        cls,
        private_key: Ed25519PrivateKey,
        provider: QuoteProvider | None,
        random_bytes: Callable[[int], bytes],
        now: float,
        *,
        statement: bytes = b"",
        claims: Statement | None = None,
    ) -> NodeIdentity:
        """An identity with its first certificate already issued at ``now``."""
        identity = cls(private_key, provider, random_bytes, statement=statement, claims=claims)
        identity.issue(now)
        return identity

    @property
    def public_key(self) -> bytes:
        """Raw 32-byte Ed25519 public key."""
        key = self.private_key.public_key()
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def certificate(self) -> RaTlsCertificate:
        """The certificate to present now; `issue` must have been called once."""
        if self._certificate is None:
            raise RuntimeError("NodeIdentity.issue(now) must be called before the certificate is used")
        return self._certificate

    def issue(self, now: float) -> RaTlsCertificate:
        """Ask the provider for a quote bound to the key, sign a new certificate and make it current."""
        quote = None
        if self.provider is not None:
            quote = self.provider.quote(report_data_for(self.public_key))
        serial = serial_from_bytes(self._random_bytes(SERIAL_BYTES))
        statement = self.statement
        if self.claims is not None:
            fresh = msgspec.structs.replace(self.claims, issued_at=int(now))
            if self.keyring is not None:
                pair = self.keyring.rotate(not_after=int(now + 2 * self.refresh_after))
                fresh = msgspec.structs.replace(
                    fresh,
                    e2e_suite=SUITE,
                    e2e_kem_pk=pair.public_key,
                    e2e_key_id=pair.key_id,
                    e2e_not_after=pair.not_after,
                )
            statement = sign_statement(fresh, self.private_key)
        cert = issue_certificate(self.private_key, quote=quote, now=now, serial=serial, statement=statement)
        self._certificate = cert
        self._issued_at = now
        return cert

    def install(self, cert: RaTlsCertificate) -> None:
        """Present a certificate issued elsewhere (e.g. loaded from disk); it must carry this key."""
        if cert.public_key != self.public_key:
            raise ValueError("the certificate is for a different key than this identity's private key")
        self._certificate = cert
        self._issued_at = float(cert.not_before)  # refresh early rather than late

    def needs_refresh(self, now: float) -> bool:
        """True once the current certificate is older than ``refresh_after`` (or there is none)."""
        if self._certificate is None:
            return True
        return now - self._issued_at >= self.refresh_after
