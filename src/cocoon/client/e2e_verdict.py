"""Whether the client may seal a request to a worker's end-to-end key: the verdict on one certificate.

A proxy lists candidate workers with their RA-TLS certificates (`cocoon.wire.control.E2ECandidates`);
it could list its own key instead of a worker's, so the client checks each certificate itself, as the
proxy admits workers (`cocoon.node.admission.WorkerAdmission`): the certificate parses and is valid
now, the worker policy accepts its quote and allowlists, its statement is signed by the certificate
key, and the statement carries an end-to-end key of `cocoon.e2e.suite.SUITE` whose id is the key's and
which has not expired. The chain is: quote → certificate key → statement signature → HPKE key.
Whether the worker serves the model asked for is checked per request (`usable`), since a verdict is
kept by certificate hash (`VerdictCache`) and says nothing about a model.

Pure: time is passed in, nothing here waits.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from cocoon.attestation.certificate import parse_certificate
from cocoon.attestation.policy import Policy
from cocoon.attestation.statement import model_hash, verify_statement
from cocoon.errors import CocoonError, StatementError

REFUSAL_TTL_S = 300.0
"""How long a refusal is kept at most: allowlists may change (the root's) and clocks may be fixed."""
CACHE_CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """A worker certificate the client verified: the worker's attested key and its end-to-end key."""

    certificate_sha256: bytes
    worker_key: bytes
    """The certificate's Ed25519 key: the one that signs the worker's receipts."""
    model_id: str
    model_hash: bytes
    key_id: bytes
    public_key: bytes
    """The X25519 HPKE public key requests are sealed to."""
    not_after: float
    """Unix seconds: the earlier of the certificate's and the key's expiry."""

    @property
    def until(self) -> float:
        return self.not_after


@dataclass(frozen=True, slots=True)
class Refused:
    """A worker certificate the client will not encrypt to, and why."""

    certificate_sha256: bytes
    reason: str
    until: float
    """Unix seconds after which the certificate is checked again if listed."""


Verdict = VerifiedKey | Refused


def check_certificate(der: bytes, policy: Policy, now: float) -> Verdict:
    """The verdict on one candidate's certificate at ``now`` under the worker ``policy``."""
    sha = hashlib.sha256(der).digest()
    retry_at = now + REFUSAL_TTL_S
    try:
        cert = parse_certificate(der, now)
    except CocoonError as exc:
        return Refused(sha, f"its certificate is refused: {exc}", retry_at)
    retry_at = min(retry_at, float(cert.not_after))
    try:
        policy.verify(cert, now)
        statement = verify_statement(cert.statement, cert.public_key)
    except CocoonError as exc:
        return Refused(sha, f"its attestation is refused: {exc}", retry_at)
    if not statement.has_e2e_key:
        return Refused(sha, "it states no end-to-end key (it predates cocoon-e2e/1)", retry_at)
    try:
        statement.check_e2e_key()
    except StatementError as exc:
        return Refused(sha, str(exc), retry_at)
    if statement.e2e_not_after <= now:
        return Refused(sha, f"its end-to-end key expired at {statement.e2e_not_after}", retry_at)
    return VerifiedKey(
        certificate_sha256=sha,
        worker_key=cert.public_key,
        model_id=statement.model_id,
        model_hash=statement.model_hash,
        key_id=statement.e2e_key_id,
        public_key=statement.e2e_kem_pk,
        not_after=float(min(cert.not_after, statement.e2e_not_after)),
    )


def usable(verdict: Verdict, model: str, now: float) -> VerifiedKey | str:
    """The verified key if a request for ``model`` may be sealed to it at ``now``; else why not."""
    if isinstance(verdict, Refused):
        return verdict.reason
    if verdict.not_after <= now:
        return "its certificate or end-to-end key expired"
    if verdict.model_hash != model_hash(model):
        return f"it attests model {verdict.model_id or '(none)'}, not {model}"
    return verdict


class VerdictCache:
    """Verdicts by certificate SHA-256, each until its expiry; at most ``capacity`` kept."""

    def __init__(self, capacity: int = CACHE_CAPACITY) -> None:
        self.capacity = capacity
        self._verdicts: OrderedDict[bytes, Verdict] = OrderedDict()

    def get(self, sha256: bytes, now: float) -> Verdict | None:
        """The verdict on the certificate with this hash, unless unknown or expired."""
        verdict = self._verdicts.get(sha256)
        if verdict is None:
            return None
        if verdict.until <= now:
            del self._verdicts[sha256]
            return None
        self._verdicts.move_to_end(sha256)
        return verdict

    def put(self, verdict: Verdict) -> None:
        self._verdicts[verdict.certificate_sha256] = verdict
        self._verdicts.move_to_end(verdict.certificate_sha256)
        while len(self._verdicts) > self.capacity:
            self._verdicts.popitem(last=False)

    def known(self, now: float, first: Iterable[bytes] = (), limit: int = 64) -> tuple[bytes, ...]:
        """Hashes of up to ``limit`` certificates with a live verdict (a proxy need not re-send them),
        those of ``first`` before the others."""
        out: dict[bytes, None] = {}
        for sha in (*first, *reversed(tuple(self._verdicts))):
            if len(out) >= limit:
                break
            if sha not in out and self.get(sha, now) is not None:
                out[sha] = None
        return tuple(out)

    def __len__(self) -> int:
        return len(self._verdicts)
