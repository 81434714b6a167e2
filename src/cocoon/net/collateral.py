"""Getting DCAP collateral over the network: the ``await`` half of the core's collateral decisions.

The core decides (:mod:`cocoon.attestation.dcap`, :mod:`cocoon.attestation.tdx_policy`): whether a
verdict for a quote is still cached, whether the store holds current collateral for its platform,
and what a fetched collateral is good for. This module only does the waiting: it asks a
:class:`CollateralFetcher` (e.g. :class:`PccsFetcher`, a PCCS or Intel PCS over HTTPS through
dcap-qvl) when the core says collateral is needed.

:class:`CollateralKeeper` keeps a node's store filled for its handshakes: collateral for the peer's
platform is fetched before the policy's verdict when it is missing, and again once it is within
``refresh_margin`` of its ``nextUpdate`` (the current one stays in use if the refresh fails).
:func:`keep_collateral` attaches it to a `TdxPolicy` as the step every RA-TLS handshake awaits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import dcap_qvl

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.claims import REPORT_DATA_SIZE
from cocoon.attestation.dcap import Collateral, DcapVerdict, DcapVerifier, format_utc, quote_fmspc
from cocoon.attestation.tdx_policy import CollateralStore, TdxPolicy
from cocoon.errors import CollateralError, ConfigError, QuoteError

log = logging.getLogger(__name__)

PCCS_TIMEOUT_SECONDS = 30.0
REFRESH_MARGIN_SECONDS = 24 * 3600.0
"""Refresh collateral this long before its nextUpdate (Intel issues TCB info for about 30 days)."""
RETRY_SECONDS = 300.0
"""After a refresh attempt, wait this long before the next one for the same platform."""


def check_pccs_url(url: str) -> str:
    """``url`` without a trailing slash if it is an http(s) URL, else `ConfigError` saying what is wanted."""
    base = url.strip().rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ConfigError(f"PCCS URL {url!r} must be an http(s):// URL of a PCCS (Intel's v4 API)")
    return base


class CollateralFetcher(Protocol):
    """Gets collateral for a quote (e.g. from a PCCS)."""

    async def fetch(self, quote: bytes) -> Collateral:
        """Collateral that covers ``quote``'s platform (FMSPC) and QE."""
        ...


class PccsFetcher:
    """`CollateralFetcher` from a PCCS (or Intel PCS) URL through dcap-qvl; bounded by a timeout."""

    def __init__(self, url: str, timeout: float = PCCS_TIMEOUT_SECONDS) -> None:
        self.url = url
        self.timeout = timeout

    async def fetch(self, quote: bytes) -> Collateral:
        """Collateral for the quote's FMSPC and QE; CollateralError if the PCCS cannot provide it."""
        try:
            value = await asyncio.wait_for(dcap_qvl.get_collateral(self.url, quote), self.timeout)
        except TimeoutError as exc:
            raise CollateralError(f"PCCS {self.url} did not answer in {self.timeout:.0f} s; retry") from exc
        except (ValueError, RuntimeError) as exc:
            raise CollateralError(f"PCCS {self.url} gave no collateral ({exc}); check the URL") from exc
        return Collateral.from_dcap(value)


async def verify_fetching(
    verifier: DcapVerifier, quote: bytes, fetcher: CollateralFetcher, now: int
) -> DcapVerdict:
    """Use a cached verdict if one holds, else fetch collateral and verify."""
    hit = verifier.cached(quote, now)
    if hit is not None:
        return hit
    return verifier.verify(quote, await fetcher.fetch(quote), now)


async def ensure_collateral(
    store: CollateralStore, fetcher: CollateralFetcher, quote: bytes, now: int
) -> None:
    """Fetch collateral for ``quote``'s platform unless the store has a current one."""
    if store.needs_collateral(quote, now):
        store.put(await fetcher.fetch(quote))


class CollateralKeeper:
    """Fills a `CollateralStore` from a fetcher (a PCCS) for the quotes the handshakes meet.

    Without a fetcher the store holds only what was loaded at start (collateral files); a platform
    it lacks is refused with a `CollateralError` naming the FMSPC and the settings that would
    provide it. One fetch per platform at a time: concurrent handshakes wait for it.
    """

    def __init__(
        self,
        store: CollateralStore,
        fetcher: CollateralFetcher | None = None,
        *,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        retry_after: float = RETRY_SECONDS,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.refresh_margin = refresh_margin
        self.retry_after = retry_after
        self.fetches = 0
        """Collateral fetched since start."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._tried: dict[str, float] = {}

    async def ensure(self, quote: bytes, now: int) -> None:
        """Make the store hold current collateral for ``quote``'s platform at ``now``, or raise.

        A fake (64-byte) or unreadable quote is left to the policy, which refuses it with its reason.
        """
        if len(quote) == REPORT_DATA_SIZE:
            return
        try:
            fmspc = quote_fmspc(quote)
        except QuoteError:
            return
        if self._fresh(fmspc, now):
            return
        async with self._locks.setdefault(fmspc, asyncio.Lock()):
            if not self._fresh(fmspc, now):
                await self._fetch(quote, fmspc, now)

    def _fresh(self, fmspc: str, now: int) -> bool:
        """Current and not yet due for refresh (or no way / no time yet to refresh it)."""
        current = self.store.get(fmspc, now)
        if current is None:
            return False
        if now < current.next_update - self.refresh_margin or self.fetcher is None:
            return True
        return now - self._tried.get(fmspc, float("-inf")) < self.retry_after

    async def _fetch(self, quote: bytes, fmspc: str, now: int) -> None:
        current = self.store.get(fmspc, now)
        stale = self.store.latest(fmspc)
        if self.fetcher is None and stale is not None:
            raise CollateralError(
                f"the DCAP collateral for platform FMSPC {fmspc} (collateral_files) is not valid at "
                f"{format_utc(now)}: usable {format_utc(stale.issued_at)} .. "
                f"{format_utc(stale.next_update)}; "
                "save fresh collateral (`cocoon attest collateral fetch`) or set pccs_url"
            )
        if self.fetcher is None:
            raise CollateralError(
                f"no DCAP collateral for platform FMSPC {fmspc}: set pccs_url to a PCCS (Intel's v4 "
                "API), or save its collateral with `cocoon attest collateral fetch` and list the file "
                "in collateral_files"
            )
        self._tried[fmspc] = now
        try:
            fetched = await self.fetcher.fetch(quote)
        except CollateralError as exc:
            if current is None:
                raise
            log.warning(
                "refreshing DCAP collateral for FMSPC %s failed (%s); the current one is used until %s",
                fmspc,
                exc,
                format_utc(current.next_update),
            )
            return
        if fetched.fmspc != fmspc:
            raise CollateralError(
                f"the PCCS answered collateral for FMSPC {fetched.fmspc or '(none)'} to a quote of FMSPC "
                f"{fmspc}; check pccs_url"
            )
        if now >= fetched.next_update:
            raise CollateralError(
                f"the PCCS served DCAP collateral for FMSPC {fmspc} that expired at "
                f"{format_utc(fetched.next_update)} (now {format_utc(now)}); the PCCS must refresh its "
                "cache from Intel"
            )
        self.store.put(fetched)
        self.fetches += 1
        log.info(
            "DCAP collateral for FMSPC %s fetched; valid until %s", fmspc, format_utc(fetched.next_update)
        )


def keep_collateral(policy: TdxPolicy, keeper: CollateralKeeper) -> TdxPolicy:
    """Attach ``keeper`` to ``policy``: each handshake then awaits collateral for the peer's quote
    (at the policy's quote time) before the policy's verdict. Returns ``policy``."""

    async def prepare(cert: RaTlsCertificate, now: float) -> None:
        if cert.quote is not None:
            await keeper.ensure(cert.quote, policy.quotes.quote_time(now))

    if keeper.store is not policy.store:
        raise ValueError("the keeper must fill the policy's own collateral store")
    policy.prepare = prepare
    return policy
