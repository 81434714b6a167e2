"""Which workers a node accepts: the allowlists (config or root contract) and the worker policy.

The proxy admits workers with `WorkerAdmission` at every handshake; a client checks each end-to-end
candidate's certificate with the same policy (spec/e2e.md: "exactly as the proxy admits workers"),
so both trust the same workers. Allowlists come from one `AllowlistSource`: `ConfigAllowlist` reads a
config, `RegistryAllowlist` the root contract's hash sets (updated with each registry snapshot).
Worker image hashes and MRTDs are checked by the attestation policy, model hashes by the worker's
signed statement. The source is read at every check, so a new list applies to the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import AttestationPolicy, Policy
from cocoon.attestation.statement_policy import StatementRequirements, check_certificate_statement
from cocoon.errors import ConfigError, PolicyError
from cocoon.node.policy import hex_set
from cocoon.registry.snapshot import RegistrySnapshot


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


def followed_allowlist(
    image_hashes: Sequence[str],
    mr_tds: Sequence[str],
    model_hashes: Sequence[str],
    rtmr_sets: Sequence[str],
    registry: RegistrySnapshot | None,
) -> tuple[AllowlistSource, RegistryAllowlist | None]:
    """The worker allowlists a node applies: its config's when it lists any (or without a chain:
    ``registry`` None), else the root's hash sets read at start; the `RegistryAllowlist` returned
    (None when the config's apply) is to be updated with each new registry snapshot."""
    lists = (image_hashes, mr_tds, model_hashes, rtmr_sets)
    if registry is None or any(lists):
        return ConfigAllowlist(*lists), None
    from_root = RegistryAllowlist(registry)
    return from_root, from_root


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

    @property
    def prepare(self) -> object:
        """The base policy's step before a verdict (the handshake awaits it), or None."""
        return getattr(self.base, "prepare", None)

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
