"""Full DCAP verification of TDX quotes with ``dcap-qvl``, and a verdict cache that expires.

``dcap-qvl`` checks the PCK chain to its built-in Intel root, the CRLs, the TCB info and QE identity
(signed by Intel) and computes the platform's TCB status. Before calling it we parse the quote and
verify its cryptography offline (:mod:`quote_verify`) with the root key pinned, so a verdict always
carries our parsed measurements and root key id.

Verdicts are cached by SHA-256(quote) until the earliest ``nextUpdate`` of the collateral used (TCB
info, QE identity, both CRLs) or the PCK leaf's expiry, whichever comes first: unlike the reference,
which caches forever, a revoked platform stops being accepted once fresh collateral is due.

Collateral comes from a JSON file saved earlier (:meth:`Collateral.from_json`) or is fetched by the
shell (:mod:`cocoon.net.collateral`: a PCCS, ``verify_fetching`` when :meth:`DcapVerifier.cached`
has no verdict); this module never opens a socket and never reads the clock: ``now`` (Unix seconds)
is always passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dcap_qvl
from cryptography import x509

from cocoon.attestation.measurements import TdMeasurements
from cocoon.attestation.quote import parse_quote
from cocoon.attestation.quote_verify import DEFAULT_ROOT_KEY_IDS, verify_quote_offline
from cocoon.errors import CollateralError, DecodeError, QuoteError, TcbStatusError

DEFAULT_ACCEPTED_STATUSES = frozenset({"UpToDate"})
DEFAULT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Collateral:
    """DCAP collateral (``dcap_qvl.QuoteCollateralV3``) and when it must be refreshed (Unix seconds)."""

    value: Any
    fmspc: str
    """Platform family (upper-case hex) the TCB info covers: collateral is per FMSPC."""
    issued_at: int
    next_update: int

    @classmethod
    def from_json(cls, text: str) -> Collateral:
        """Load collateral saved as QuoteCollateralV3 JSON (what ``to_json`` writes)."""
        try:
            value = dcap_qvl.QuoteCollateralV3.from_json(text)
        except (ValueError, TypeError) as exc:
            raise CollateralError(
                f"collateral JSON does not load ({exc}); save it again from a PCCS"
            ) from exc
        return cls.from_dcap(value)

    @classmethod
    def from_dcap(cls, value: Any) -> Collateral:
        """Wrap a ``QuoteCollateralV3`` and compute its validity window from its dates and CRLs."""
        try:
            tcb = json.loads(value.tcb_info)
            qe = json.loads(value.qe_identity)
            crls = [
                x509.load_der_x509_crl(bytes(value.pck_crl)),
                x509.load_der_x509_crl(bytes(value.root_ca_crl)),
            ]
            issued = max(parse_utc(tcb["issueDate"]), parse_utc(qe["issueDate"]))
            updates = [parse_utc(tcb["nextUpdate"]), parse_utc(qe["nextUpdate"])]
        except (ValueError, KeyError, TypeError) as exc:
            raise CollateralError(f"collateral is malformed ({exc}); fetch it again from a PCCS") from exc
        updates += [int(c.next_update_utc.timestamp()) for c in crls if c.next_update_utc is not None]
        fmspc = str(tcb.get("fmspc", "")).upper()
        return cls(value=value, fmspc=fmspc, issued_at=issued, next_update=min(updates))


def quote_fmspc(quote: bytes) -> str:
    """The FMSPC (upper-case hex) from the quote's PCK leaf certificate: which collateral it needs."""
    try:
        return str(dcap_qvl.parse_quote(quote).fmspc()).upper()
    except ValueError as exc:
        raise QuoteError(f"cannot read the FMSPC from the quote's PCK certificate ({exc})") from exc


@dataclass(frozen=True, slots=True)
class DcapVerdict:
    """A quote that passed DCAP verification: what was established and until when it holds."""

    quote_sha256: bytes
    tcb_status: str
    advisory_ids: tuple[str, ...]
    measurements: TdMeasurements
    root_key_id: bytes
    verified_at: int
    valid_until: int

    def holds_at(self, now: int) -> bool:
        """True while the verdict may be reused (after verification, before the collateral's update)."""
        return self.verified_at <= now < self.valid_until


class DcapVerifier:
    """Verifies quotes against collateral and caches verdicts by SHA-256(quote) until they expire."""

    def __init__(
        self,
        *,
        accepted_statuses: frozenset[str] = DEFAULT_ACCEPTED_STATUSES,
        root_key_ids: frozenset[bytes] = DEFAULT_ROOT_KEY_IDS,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._accepted = accepted_statuses
        self._root_key_ids = root_key_ids
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, DcapVerdict] = OrderedDict()

    def cached(self, quote: bytes, now: int) -> DcapVerdict | None:
        """A still-valid earlier verdict for this exact quote, or None (expired entries are dropped)."""
        key = hashlib.sha256(quote).digest()
        verdict = self._cache.get(key)
        if verdict is None:
            return None
        if not verdict.holds_at(now):
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return verdict

    def verify(self, quote: bytes, collateral: Collateral, now: int) -> DcapVerdict:
        """Full verification at ``now``; returns a cached verdict when one still holds.

        Raises QuoteError: malformed or forged quote, TCB status not accepted, collateral expired or
        not matching. Whether the TD may be a debug TD, its reportdata binding and allowlists are
        policy decisions (:mod:`cocoon.attestation.policy`, :mod:`cocoon.attestation.tdx_policy`).
        """
        hit = self.cached(quote, now)
        if hit is not None:
            return hit
        verdict = self._verify_uncached(quote, collateral, now)
        self._cache[verdict.quote_sha256] = verdict
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return verdict

    def _verify_uncached(self, raw: bytes, collateral: Collateral, now: int) -> DcapVerdict:
        try:
            quote = parse_quote(raw)
        except DecodeError as exc:
            raise QuoteError(f"malformed TDX quote: {exc}") from exc
        offline = verify_quote_offline(quote, now, root_key_ids=self._root_key_ids)
        if now >= collateral.next_update:
            raise CollateralError(
                f"collateral expired at {format_utc(collateral.next_update)} (now {format_utc(now)}); "
                "fetch fresh collateral from the PCCS"
            )
        report = _dcap_verify(raw, collateral, now)
        status = str(report.status)
        if status not in self._accepted:
            allowed = ", ".join(sorted(self._accepted))
            raise TcbStatusError(
                f"TCB status {status} is not accepted (allowed: {allowed}); the platform needs a "
                "microcode/TDX module update, or widen the accepted statuses"
            )
        return DcapVerdict(
            quote_sha256=hashlib.sha256(raw).digest(),
            tcb_status=status,
            advisory_ids=tuple(report.advisory_ids),
            measurements=quote.measurements,
            root_key_id=offline.root_key_id,
            verified_at=now,
            valid_until=min(collateral.next_update, offline.pck_not_after),
        )


def _dcap_verify(raw: bytes, collateral: Collateral, now: int) -> Any:
    """Call dcap-qvl and map its ValueError strings to our errors."""
    try:
        return dcap_qvl.verify(raw, collateral.value, now)
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        if "in the future" in text:
            raise CollateralError(
                f"DCAP: collateral is not valid yet ({text}); check the clock or use older collateral"
            ) from exc
        if "Expired" in text or "expired" in text:
            raise CollateralError(
                f"DCAP: collateral or certificate expired ({text}); fetch fresh collateral"
            ) from exc
        raise QuoteError(
            f"DCAP verification failed: {text}; the quote or its collateral is not genuine"
        ) from exc


def parse_utc(text: str) -> int:
    """Unix seconds of an ISO-8601 UTC timestamp such as ``2025-06-19T10:16:03Z``."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def format_utc(t: float) -> str:
    """``2025-06-19T10:16:03Z`` for Unix seconds ``t`` (how collateral and verdict dates are shown)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
