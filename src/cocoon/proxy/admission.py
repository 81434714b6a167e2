"""Which workers the proxy admits, and what it tells clients about the worker that answered.

Allowlists come from one `AllowlistSource`: `ConfigAllowlist` reads the proxy config,
`RegistryAllowlist` the root contract's hash sets (updated with each registry snapshot). Worker
image hashes and MRTDs are checked by the TLS policy during the handshake, model hashes by the
worker's signed statement. The source is read at every handshake, so a new list applies to the next
connection.

Trust chain for receipts (what a client verifies "against the attested key it saw on that path"):
the client attested its proxy (its policy); the proxy attested the worker's certificate, whose quote
binds the worker's key; the proxy forwards that key (``x-cocoon-worker-key``) and the statement the
key signed (``x-cocoon-worker-statement``) in the answer's head. The worker signs each receipt with
that key, so a receipt that verifies under it was made inside the attested worker image.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import msgspec

from cocoon.api.capabilities import UNDECLARED_ENDPOINTS, known_endpoints
from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import AttestationPolicy, Policy
from cocoon.attestation.statement import verify_statement
from cocoon.attestation.statement_policy import StatementRequirements, check_certificate_statement
from cocoon.errors import ConfigError, PolicyError, StatementError
from cocoon.node.policy import hex_set
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.wire.headers import WORKER_KEY, WORKER_STATEMENT
from cocoon.wire.messages import WorkerState


@dataclass(frozen=True, slots=True)
class NetworkAllowlist:
    """What the network allows now; an empty set allows anything (as the reference does)."""

    worker_image_hashes: frozenset[bytes] = frozenset()
    worker_mr_tds: frozenset[bytes] = frozenset()
    model_hashes: frozenset[bytes] = frozenset()
    worker_rtmr_sets: frozenset[tuple[bytes, bytes, bytes, bytes]] = frozenset()

    @property
    def checks_measurements(self) -> bool:
        """Whether any list needs an attesting policy (a verified quote) to be checked."""
        return bool(self.worker_image_hashes or self.worker_mr_tds or self.worker_rtmr_sets)


class AllowlistSource(Protocol):
    """Where the allowlists come from (config today, the root contract later)."""

    def current(self) -> NetworkAllowlist:
        """The lists to apply to the next handshake."""
        ...


class ConfigAllowlist:
    """Allowlists from hex strings in the proxy config."""

    def __init__(
        self,
        image_hashes: Sequence[str],
        mr_tds: Sequence[str] = (),
        model_hashes: Sequence[str] = (),
        rtmr_sets: Sequence[str] = (),
    ) -> None:
        self._lists = NetworkAllowlist(
            worker_image_hashes=hex_set(image_hashes, 32, "allowed_worker_image_hashes"),
            worker_mr_tds=hex_set(mr_tds, 48, "allowed_worker_mrtds"),
            model_hashes=hex_set(model_hashes, 32, "allowed_model_hashes"),
            worker_rtmr_sets=frozenset(rtmr_set(text) for text in rtmr_sets),
        )

    def current(self) -> NetworkAllowlist:
        return self._lists


def rtmr_set(text: str) -> tuple[bytes, bytes, bytes, bytes]:
    """``"rtmr0:rtmr1:rtmr2:rtmr3"`` (each 96 hex digits) as four 48-byte values."""
    parts = text.split(":")
    try:
        values = tuple(bytes.fromhex(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or any(len(v) != 48 for v in values):
        raise ConfigError(
            f"allowed_worker_rtmrs entry {text[:40]!r}... must be rtmr0:rtmr1:rtmr2:rtmr3, "
            "each 96 hex digits (48 bytes)"
        )
    return values[0], values[1], values[2], values[3]


class RegistryAllowlist:
    """Allowlists from the root contract: call `update` with each new registry snapshot."""

    def __init__(self, snapshot: RegistrySnapshot) -> None:
        self._lists = allowlist_from_registry(snapshot)

    def update(self, snapshot: RegistrySnapshot) -> None:
        """Apply a new root version; the next handshake uses it."""
        self._lists = allowlist_from_registry(snapshot)

    def current(self) -> NetworkAllowlist:
        return self._lists


def allowlist_from_registry(snapshot: RegistrySnapshot) -> NetworkAllowlist:
    """The root's worker image hashes and model hashes (uint256 keys) as 32-byte digests."""
    return NetworkAllowlist(
        worker_image_hashes=frozenset(h.to_bytes(32, "big") for h in snapshot.worker_hashes),
        model_hashes=frozenset(h.to_bytes(32, "big") for h in snapshot.model_hashes),
    )


class WorkerAdmission:
    """The proxy's worker policy: ``base`` with the source's lists, then the statement checks."""

    def __init__(self, base: Policy, source: AllowlistSource, max_statement_age_s: float = 0.0) -> None:
        lists = source.current()
        if not isinstance(base, AttestationPolicy) and lists.checks_measurements:
            raise ConfigError(
                f"worker image-hash/MRTD/RTMR allowlists need an attesting worker policy, not {base.name!r}; "
                "set worker_policy to fake or tdx"
            )
        self.base = base
        self.source = source
        self.max_statement_age_s = max_statement_age_s

    @property
    def name(self) -> str:
        return self.base.name

    def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
        """Accept the worker's certificate or raise an `AttestationError` saying why."""
        lists = self.source.current()
        base = self.base
        if isinstance(base, AttestationPolicy):
            wanted = replace(
                base.allowlists,
                image_hashes=lists.worker_image_hashes,
                mr_tds=lists.worker_mr_tds,
                rtmr_sets=lists.worker_rtmr_sets,
            )
            if wanted != base.allowlists:
                base.allowlists = wanted
        elif lists.checks_measurements:
            raise PolicyError(f"policy {base.name} cannot check the worker image allowlists; refusing")
        peer = base.verify(cert, now)
        requirements = StatementRequirements(
            max_age_s=self.max_statement_age_s, model_hashes=lists.model_hashes
        )
        check_certificate_statement(cert, requirements, now)
        return peer


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
