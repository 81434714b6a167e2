"""Attestation policies: decide whether a peer's RA-TLS certificate is acceptable (pure; ``now`` passed in).

Pipeline of spec/attestation.md for the attested policies (`AttestationPolicy`):

1. the certificate is within validity (its structure was checked when it was parsed);
2. a `QuoteVerifier` checks the quote's cryptography and TCB and returns the measurements
   (`FakeQuoteVerifier` here; the DCAP verifier for real quotes lives next to the quote parser);
3. the TD is not a debug TD;
4. reportdata == SHA-512(the certificate's own key), so a quote copied from another VM fails;
5. the allowlists (image hashes, MRTD, RTMR sets, Intel root key ids) accept the measurements.

`AnyPolicy` requires no attestation. A ``tdx`` policy is ``AttestationPolicy("tdx", <DCAP verifier>,
allowlists)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.claims import REPORT_DATA_SIZE, report_data_for
from cocoon.attestation.measurements import TdMeasurements, image_hash
from cocoon.attestation.peer import AttestedPeer
from cocoon.errors import PolicyError, QuoteError


class Policy(Protocol):
    """Accepts a parsed peer certificate (returning what it learned) or raises an `AttestationError`."""

    @property
    def name(self) -> str:
        """Short name for logs and configuration."""
        ...

    def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
        """Return the accepted peer or raise `PolicyError`, `CertificateError` or `QuoteError`."""
        ...


@dataclass(frozen=True, slots=True)
class QuoteVerdict:
    """What a quote verifier vouches for: the measurements and the evidence behind them."""

    measurements: TdMeasurements
    tcb_status: str = "UpToDate"
    root_key_id: bytes = b""
    """Intel root key id the quote chains to (48 bytes for DCAP; empty for fake quotes)."""
    valid_until: float | None = None
    """Unix time after which the verdict must be recomputed (collateral's next update); None = no limit."""


class QuoteVerifier(Protocol):
    """Checks a raw quote's signatures and TCB; raises `QuoteError` when it does not verify."""

    @property
    def name(self) -> str:
        """Short name (``fake``, ``dcap``)."""
        ...

    def verify(self, quote: bytes, now: float) -> QuoteVerdict:
        """Return the verified measurements or raise `QuoteError`."""
        ...


class FakeQuoteVerifier:
    """Reference fake TDX: a quote is exactly 64 bytes of reportdata; measurements are all zero."""

    name = "fake"

    def verify(self, quote: bytes, now: float) -> QuoteVerdict:
        """Accept any 64-byte quote as its own reportdata."""
        if len(quote) != REPORT_DATA_SIZE:
            raise QuoteError(
                f"fake quote must be exactly {REPORT_DATA_SIZE} bytes, got {len(quote)}; "
                "is the peer using real TDX? Use the tdx policy for it"
            )
        return QuoteVerdict(measurements=TdMeasurements(report_data=bytes(quote)), tcb_status="Fake")


@dataclass(frozen=True, slots=True)
class Allowlists:
    """Sets of acceptable values; an empty set accepts anything (as in the reference)."""

    image_hashes: frozenset[bytes] = field(default_factory=frozenset)
    mr_tds: frozenset[bytes] = field(default_factory=frozenset)
    rtmr_sets: frozenset[tuple[bytes, bytes, bytes, bytes]] = field(default_factory=frozenset)
    root_key_ids: frozenset[bytes] = field(default_factory=frozenset)

    def check(self, verdict: QuoteVerdict) -> None:
        """Raise `PolicyError` naming the first value that is not allowed."""
        m = verdict.measurements
        if self.mr_tds and m.mr_td not in self.mr_tds:
            raise PolicyError(f"MRTD {m.mr_td.hex()} not allowed; add it to the policy's allowed MRTDs")
        if self.rtmr_sets and m.rtmrs not in self.rtmr_sets:
            raise PolicyError("RTMR set not allowed; the peer runs a different boot chain or image")
        digest = image_hash(m)
        if self.image_hashes and digest not in self.image_hashes:
            raise PolicyError(
                f"image hash {digest.hex()} not allowed; the root contract must list it before "
                "this peer is accepted"
            )
        if self.root_key_ids and verdict.root_key_id not in self.root_key_ids:
            raise PolicyError(
                f"quote chains to root key id {verdict.root_key_id.hex() or '(none)'}, not an allowed one"
            )


class AnyPolicy:
    """No attestation required: any valid self-signed Ed25519 RA-TLS certificate is accepted."""

    name = "any"

    def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
        """Check validity only; the peer is known by its key, nothing is attested."""
        cert.check_validity(now)
        return AttestedPeer(
            public_key=cert.public_key,
            policy=self.name,
            measurements=None,
            image_hash=None,
            quote=cert.quote,
            statement=cert.statement,
            certificate_sha256=cert.fingerprint,
        )


class AttestationPolicy:
    """Requires a quote bound to the certificate key, verified by ``verifier`` and allowed by the lists."""

    def __init__(
        self,
        name: str,
        verifier: QuoteVerifier,
        allowlists: Allowlists | None = None,
        *,
        allow_debug: bool = False,
        bind_key: bool = True,
    ) -> None:
        self.name = name
        self.verifier = verifier
        self.allowlists = allowlists if allowlists is not None else Allowlists()
        self.allow_debug = allow_debug
        self.bind_key = bind_key
        """Step 4 of the pipeline. Only a development mode replaying recorded quotes turns it off."""

    def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
        """Run the pipeline in the module docstring; return the attested peer."""
        cert.check_validity(now)
        if cert.quote is None:
            raise PolicyError(
                f"policy {self.name} requires a TDX quote but the peer certificate carries none; "
                "the peer must run attested"
            )
        verdict = self.verifier.verify(cert.quote, now)
        measurements = verdict.measurements
        if measurements.is_debug and not self.allow_debug:
            raise PolicyError("peer is a debug TD (td_attributes bit 0): its memory is not confidential")
        if self.bind_key and measurements.report_data != report_data_for(cert.public_key):
            raise QuoteError(
                "quote reportdata is not SHA-512 of the certificate key: the quote is bound to a "
                "different key (copied from another machine?)"
            )
        self.allowlists.check(verdict)
        return AttestedPeer(
            public_key=cert.public_key,
            policy=self.name,
            measurements=measurements,
            image_hash=image_hash(measurements),
            quote=cert.quote,
            statement=cert.statement,
            certificate_sha256=cert.fingerprint,
        )


class FakePolicy(AttestationPolicy):
    """Fake quotes (development and tests): all-zero measurements, optional image-hash allowlist."""

    def __init__(self, allowed_image_hashes: frozenset[bytes] = frozenset()) -> None:
        super().__init__("fake", FakeQuoteVerifier(), Allowlists(image_hashes=allowed_image_hashes))
