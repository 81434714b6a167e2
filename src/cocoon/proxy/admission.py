"""Which workers the proxy admits, and what it tells clients about the worker that answered.

The policy and its allowlists (`WorkerAdmission`) live in `cocoon.node.admission`, shared with the
client, which checks end-to-end candidates the same way.

Trust chain for receipts (what a client verifies "against the attested key it saw on that path"):
the client attested its proxy (its policy); the proxy attested the worker's certificate, whose quote
binds the worker's key; the proxy forwards that key (``x-cocoon-worker-key``) and the statement the
key signed (``x-cocoon-worker-statement``) in the answer's head. The worker signs each receipt with
that key, so a receipt that verifies under it was made inside the attested worker image.

End-to-end keys (spec/e2e.md): a worker re-sends its certificate in `WorkerState.certificate` after
each re-issue, its statement publishing its current HPKE key. `verify_worker_certificate` checks it as
the listener checked the handshake's (same key, same worker policy, signed statement, same model)
before the proxy routes end-to-end requests by its key id or hands it to clients as a candidate.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import msgspec

from cocoon.api.capabilities import UNDECLARED_ENDPOINTS, known_endpoints
from cocoon.attestation.certificate import parse_certificate
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import Policy
from cocoon.attestation.statement import verify_statement
from cocoon.errors import PolicyError, StatementError
from cocoon.wire.headers import WORKER_KEY, WORKER_STATEMENT
from cocoon.wire.messages import WorkerState


def state_refusal(peer: AttestedPeer | None, state: WorkerState) -> str | None:
    """Why a worker's declared offer contradicts its signed statement (None when it does not)."""
    if peer is None or not peer.statement:
        return None
    try:
        statement = verify_statement(peer.statement, peer.public_key)
    except StatementError as exc:  # the policy verified it already; kept for a clear message anyway
        return str(exc)
    if statement.model_id and statement.model_id != state.model:
        return f"declares model {state.model!r} but its attested statement names {statement.model_id!r}"
    return None


def admitted_offer(state: WorkerState) -> WorkerState:
    """A worker's offer as the proxy keeps it: only endpoint names this network knows, once each (the
    wire already bounds their count and length, and the context length). A worker that declares none
    is from before the endpoint probe: it is taken to serve `UNDECLARED_ENDPOINTS`, for routing and
    for /v1/models alike."""
    endpoints = known_endpoints(state.endpoints) if state.endpoints else UNDECLARED_ENDPOINTS
    return state if endpoints == state.endpoints else msgspec.structs.replace(state, endpoints=endpoints)


def worker_attestation_headers(
    peer: AttestedPeer | None, head: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    """Head headers that tell the client which attested key answered and what that key stated.

    The key is always the one this proxy attested. The worker's own head may already carry its current
    statement (fresher than the handshake's on a long-lived connection); otherwise the handshake's is
    added. Either way the client checks it against the key.
    """
    if peer is None:
        return ()
    headers = [(WORKER_KEY, peer.public_key.hex())]
    has_statement = any(name.lower() == WORKER_STATEMENT for name, _ in head)
    if peer.statement and not has_statement:
        headers.append((WORKER_STATEMENT, base64.b64encode(peer.statement).decode()))
    return tuple(headers)


@dataclass(frozen=True, slots=True)
class WorkerCertificate:
    """A worker certificate the proxy verified on a live connection, and the end-to-end key it
    publishes."""

    der: bytes
    sha256: bytes
    e2e_key_id: bytes = b""
    """Empty: the statement publishes no end-to-end key."""
    e2e_not_after: int = 0


def verify_worker_certificate(
    der: bytes, peer: AttestedPeer | None, policy: Policy, model: str, now: float
) -> WorkerCertificate:
    """Check a certificate a connected worker sent (`WorkerState.certificate`) or raise a `CocoonError`
    (`CertificateError`, `PolicyError`, `QuoteError`, `StatementError`...) saying why.

    It must parse and be valid at ``now``, carry the key this connection attested (``peer``), pass the
    worker ``policy`` (the listener's: quote, allowlists, statement requirements), and carry a statement
    signed by that key, for ``model`` when it names one; an end-to-end key it publishes must be of the
    suite this network speaks, under its own key id.
    """
    cert = parse_certificate(der, now)
    if peer is None:
        raise PolicyError("the connection attested no worker key to compare the certificate with")
    if cert.public_key != peer.public_key:
        raise PolicyError(
            f"the certificate is for key {cert.public_key.hex()[:16]}…, not the key this connection "
            f"attested ({peer.public_key.hex()[:16]}…)"
        )
    policy.verify(cert, now)
    statement = verify_statement(cert.statement, cert.public_key)
    if statement.model_id and statement.model_id != model:
        raise StatementError(
            f"its statement names model {statement.model_id!r} but the worker serves {model!r}"
        )
    statement.check_e2e_key()
    if not statement.has_e2e_key:
        return WorkerCertificate(cert.der, cert.fingerprint)
    return WorkerCertificate(cert.der, cert.fingerprint, statement.e2e_key_id, statement.e2e_not_after)


def certificate_sha256(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()
