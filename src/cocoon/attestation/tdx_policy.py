"""The ``tdx`` policy: real TDX quotes, fully DCAP-verified, on top of `AttestationPolicy`.

`AttestationPolicy` runs the pipeline of spec/attestation.md (certificate validity, quote verification,
not debug, reportdata binding, allowlists); this module supplies the quote verification step:
`DcapQuoteVerifier` verifies with `dcap-qvl` against collateral held in a `CollateralStore` and caches
verdicts until the collateral's next update.

Policy verification is synchronous (it runs inside the TLS handshake's decision), so collateral must
already be in the store. The shell keeps it filled: from a saved JSON file at start-up and, for a
platform :meth:`CollateralStore.needs_collateral` says is missing or stale, with
:func:`cocoon.net.collateral.ensure_collateral` and a fetcher (e.g. a PCCS) before the handshake's
verdict is needed. A missing or expired entry fails with a `CollateralError` that says so.
"""

from __future__ import annotations

from dataclasses import replace

from cocoon.attestation.claims import REPORT_DATA_SIZE
from cocoon.attestation.dcap import (
    DEFAULT_ACCEPTED_STATUSES,
    DEFAULT_CACHE_SIZE,
    Collateral,
    DcapVerifier,
    quote_fmspc,
)
from cocoon.attestation.policy import Allowlists, AttestationPolicy, QuoteVerdict
from cocoon.attestation.quote import parse_quote
from cocoon.attestation.quote_verify import INTEL_ROOT_KEY_ID
from cocoon.errors import CollateralError, DecodeError, QuoteError


class CollateralStore:
    """The newest collateral per FMSPC (platform family); entries are used only before nextUpdate."""

    def __init__(self, collaterals: tuple[Collateral, ...] = ()) -> None:
        self._by_fmspc: dict[str, Collateral] = {}
        for collateral in collaterals:
            self.put(collateral)

    def put(self, collateral: Collateral) -> None:
        """Add or replace the collateral for its FMSPC (an older issue never replaces a newer one)."""
        current = self._by_fmspc.get(collateral.fmspc)
        if current is None or collateral.issued_at >= current.issued_at:
            self._by_fmspc[collateral.fmspc] = collateral

    def get(self, fmspc: str, now: int) -> Collateral | None:
        """Collateral for ``fmspc`` that is still current at ``now``, or None."""
        collateral = self._by_fmspc.get(fmspc.upper())
        if collateral is None or now >= collateral.next_update:
            return None
        return collateral

    def needs_collateral(self, quote: bytes, now: int) -> bool:
        """True if the store has no current collateral for the quote's platform (missing or stale)."""
        return self.get(quote_fmspc(quote), now) is None

    def for_quote(self, quote: bytes, now: int) -> Collateral:
        """Current collateral for the quote's platform, or CollateralError saying what to fetch."""
        fmspc = quote_fmspc(quote)
        collateral = self.get(fmspc, now)
        if collateral is None:
            state = "expired" if fmspc in self._by_fmspc else "missing"
            raise CollateralError(
                f"DCAP collateral for platform FMSPC {fmspc} is {state}; fetch it from a PCCS "
                "(or load a saved collateral JSON) and retry"
            )
        return collateral


class DcapQuoteVerifier:
    """`QuoteVerifier` for real quotes: cached verdict, else DCAP with the store's collateral."""

    name = "dcap"

    def __init__(self, store: CollateralStore, verifier: DcapVerifier | None = None) -> None:
        self.store = store
        self.verifier = verifier if verifier is not None else DcapVerifier()

    def verify(self, quote: bytes, now: float) -> QuoteVerdict:
        """Verify (or reuse a still-valid verdict) at ``now``; raises QuoteError subclasses."""
        moment = int(now)
        verdict = self.verifier.cached(quote, moment)
        if verdict is None:
            _require_real_quote(quote)
            verdict = self.verifier.verify(quote, self.store.for_quote(quote, moment), moment)
        return QuoteVerdict(
            measurements=verdict.measurements,
            tcb_status=verdict.tcb_status,
            root_key_id=verdict.root_key_id,
            valid_until=float(verdict.valid_until),
        )


def _require_real_quote(quote: bytes) -> None:
    """Fail early and clearly on fake or malformed quotes, before looking up collateral for them."""
    if len(quote) == REPORT_DATA_SIZE:
        raise QuoteError(
            "the peer sent a fake quote (64 bytes of reportdata); the tdx policy needs a real TDX "
            "quote (use the fake policy only for development)"
        )
    try:
        parse_quote(quote)
    except DecodeError as exc:
        raise QuoteError(f"malformed TDX quote: {exc}") from exc


class TdxPolicy(AttestationPolicy):
    """Real TDX: DCAP-verified quotes, accepted TCB statuses, Intel root pinned, optional allowlists.

    As the reference's router does, the Intel root key id is added to the root allowlist unless one
    is given. Debug TDs are rejected unless ``allow_debug`` (never in production).
    """

    def __init__(
        self,
        store: CollateralStore,
        allowlists: Allowlists | None = None,
        *,
        accepted_statuses: frozenset[str] = DEFAULT_ACCEPTED_STATUSES,
        allow_debug: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        allow = allowlists if allowlists is not None else Allowlists()
        if not allow.root_key_ids:
            allow = replace(allow, root_key_ids=frozenset({INTEL_ROOT_KEY_ID}))
        verifier = DcapVerifier(
            accepted_statuses=accepted_statuses, root_key_ids=allow.root_key_ids, cache_size=cache_size
        )
        super().__init__("tdx", DcapQuoteVerifier(store, verifier), allow, allow_debug=allow_debug)
