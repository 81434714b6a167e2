"""A policy wrapper that also requires a valid signed claims statement (pure; ``now`` passed in).

The inner policy (`any`, `fake`, `tdx`) decides whether the certificate and its quote are acceptable;
this wrapper then checks the statement the certificate key signed: present and signed by that key,
not older than a freshness bound, and naming an allowed model. Refusals raise `StatementError` /
`PolicyError`, so the listener logs them as ``peer refused: <reason>`` like any attestation failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import Policy
from cocoon.attestation.statement import Statement, check_fresh, verify_statement
from cocoon.errors import PolicyError


@dataclass(frozen=True, slots=True)
class StatementRequirements:
    """What a statement must show; the defaults require nothing (a statement is then optional)."""

    required: bool = False
    max_age_s: float = 0.0
    """0 = no freshness bound."""
    model_hashes: frozenset[bytes] = field(default_factory=frozenset)
    """Allowed model hashes (empty = any model); non-empty implies a statement is required."""

    @property
    def demands_statement(self) -> bool:
        return self.required or self.max_age_s > 0 or bool(self.model_hashes)

    def check(self, statement: Statement, now: float) -> None:
        """Raise unless ``statement`` is fresh enough and names an allowed model."""
        check_fresh(statement, now, self.max_age_s)
        if self.model_hashes and statement.model_hash not in self.model_hashes:
            raise PolicyError(
                f"model {statement.model_id or '(none)'} (hash {statement.model_hash.hex() or 'none'}) "
                "not allowed; the registry must list its hash before this worker is accepted"
            )


class StatementPolicy:
    """``inner`` plus the statement checks of ``requirements`` (skipped when they demand nothing)."""

    def __init__(self, inner: Policy, requirements: StatementRequirements) -> None:
        self.inner = inner
        self.requirements = requirements

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def prepare(self) -> object:
        """The inner policy's step before a verdict (the handshake awaits it), or None."""
        return getattr(self.inner, "prepare", None)

    def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
        """Run the inner policy, then the statement checks."""
        peer = self.inner.verify(cert, now)
        check_certificate_statement(cert, self.requirements, now)
        return peer


def check_certificate_statement(
    cert: RaTlsCertificate, requirements: StatementRequirements, now: float
) -> None:
    """Check the statement in ``cert`` against ``requirements``.

    A statement that is present must verify even when none is required (a forged one is an attack);
    an absent one fails only when the requirements demand one (reference nodes carry none).
    """
    if cert.statement or requirements.demands_statement:
        requirements.check(verify_statement(cert.statement, cert.public_key), now)
