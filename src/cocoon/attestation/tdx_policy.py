"""The ``tdx`` policy: real TDX quotes, fully DCAP-verified, on top of `AttestationPolicy`.

`AttestationPolicy` runs the pipeline of spec/attestation.md (certificate validity, quote verification,
not debug, reportdata binding, allowlists); this module supplies the quote verification step:
`DcapQuoteVerifier` verifies with `dcap-qvl` against collateral held in a `CollateralStore` and caches
verdicts until the collateral's next update.

Policy verification is synchronous (it runs inside the TLS handshake's decision), so collateral must
already be in the store. The shell keeps it filled: from a saved JSON file at start-up and, for a
platform :meth:`CollateralStore.needs_collateral` says is missing or stale, with
:func:`cocoon.net.collateral.ensure_collateral` and a fetcher (e.g. a PCCS) before the handshake's
verdict is needed. A missing or expired entry fails with a `CollateralError` that says so. The
shell attaches that step to the policy as :attr:`TdxPolicy.prepare`, which every RA-TLS handshake
awaits before it calls the (synchronous) :meth:`TdxPolicy.verify`.

A debug TD is refused from the quote's TD attributes before its signature is verified (and again
after, on the verified measurements): refusing it does not depend on collateral or on the signature.

`ReplayMode` is for development only: verifying recorded quotes (test vectors) at a pinned time
without the key binding, which no recorded quote can satisfy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.claims import REPORT_DATA_SIZE
from cocoon.attestation.dcap import (
    DEFAULT_ACCEPTED_STATUSES,
    DEFAULT_CACHE_SIZE,
    Collateral,
    DcapVerifier,
    quote_fmspc,
)
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import Allowlists, AttestationPolicy, QuoteVerdict
from cocoon.attestation.quote import parse_quote
from cocoon.attestation.quote_verify import INTEL_ROOT_KEY_ID
from cocoon.errors import CollateralError, DecodeError, PolicyError, QuoteError

CollateralHook = Callable[[RaTlsCertificate, float], Awaitable[None]]
"""The shell's step before a verdict (fetch collateral for the certificate's quote), ``(cert, now)``."""


@dataclass(frozen=True, slots=True)
class ReplayMode:
    """Development only: accept *recorded* genuine quotes (test vectors) as if they were live.

    A recorded quote's reportdata binds a key nobody here holds, and its collateral expired long ago.
    So quotes and collateral are verified at ``pinned_time`` (inside the collateral's window) instead
    of now, and the key binding (step 4) is skipped when ``skip_key_binding``; every other step stays
    on. Never in production: any genuine quote copied from anywhere would then be accepted.
    """

    pinned_time: int
    """Unix seconds at which quotes and collateral are verified."""
    skip_key_binding: bool = True


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

    def latest(self, fmspc: str) -> Collateral | None:
        """The newest collateral held for ``fmspc``, current or not (to say why one is unusable)."""
        return self._by_fmspc.get(fmspc.upper())

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
                f"DCAP collateral for platform FMSPC {fmspc} is {state}; set pccs_url to a PCCS that "
                "serves it, or add its collateral JSON (`cocoon attest collateral fetch`) to "
                "collateral_files, and retry"
            )
        return collateral


class DcapQuoteVerifier:
    """`QuoteVerifier` for real quotes: cached verdict, else DCAP with the store's collateral."""

    name = "dcap"

    def __init__(
        self, store: CollateralStore, verifier: DcapVerifier | None = None, *, pinned_time: int | None = None
    ) -> None:
        self.store = store
        self.verifier = verifier if verifier is not None else DcapVerifier()
        self.pinned_time = pinned_time
        """Verify at this Unix time instead of ``now`` (`ReplayMode` only)."""

    def quote_time(self, now: float) -> int:
        """The time quotes and collateral are verified at: ``now``, or the pinned time."""
        return self.pinned_time if self.pinned_time is not None else int(now)

    def verify(self, quote: bytes, now: float) -> QuoteVerdict:
        """Verify (or reuse a still-valid verdict) at ``now``; raises QuoteError subclasses."""
        moment = self.quote_time(now)
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


def _refuse_debug_td(quote: bytes) -> None:
    """PolicyError for a real quote whose TD attributes say debug; anything else is left to the verifier."""
    if len(quote) == REPORT_DATA_SIZE:
        return
    try:
        measurements = parse_quote(quote).measurements
    except DecodeError:
        return  # the verifier refuses it with the parse error
    if measurements.is_debug:
        raise PolicyError(
            "peer is a debug TD (td_attributes bit 0 in its quote): its memory is not confidential; "
            "refused before verifying the quote"
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
    is given. Debug TDs are rejected unless ``allow_debug`` (never in production). ``replay``: see
    `ReplayMode` (development only).
    """

    def __init__(
        self,
        store: CollateralStore,
        allowlists: Allowlists | None = None,
        *,
        accepted_statuses: frozenset[str] = DEFAULT_ACCEPTED_STATUSES,
        allow_debug: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
        replay: ReplayMode | None = None,
    ) -> None:
        allow = allowlists if allowlists is not None else Allowlists()
        if not allow.root_key_ids:
            allow = replace(allow, root_key_ids=frozenset({INTEL_ROOT_KEY_ID}))
        verifier = DcapVerifier(
            accepted_statuses=accepted_statuses, root_key_ids=allow.root_key_ids, cache_size=cache_size
        )
        pinned = replay.pinned_time if replay is not None else None
        self.quotes = DcapQuoteVerifier(store, verifier, pinned_time=pinned)
        self.replay = replay
        bind_key = replay is None or not replay.skip_key_binding
        super().__init__("tdx", self.quotes, allow, allow_debug=allow_debug, bind_key=bind_key)
        self.prepare: CollateralHook | None = None
        """Set by the shell (:func:`cocoon.net.collateral.keep_collateral`); awaited before `verify`."""

    @property
    def store(self) -> CollateralStore:
        """The collateral this policy verifies against."""
        return self.quotes.store

    def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
        """Refuse a debug TD from its quote first, then run the whole pipeline."""
        if cert.quote is not None and not self.allow_debug:
            _refuse_debug_td(cert.quote)
        return super().verify(cert, now)
