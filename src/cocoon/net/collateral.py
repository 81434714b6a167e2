"""Getting DCAP collateral over the network: the ``await`` half of the core's collateral decisions.

The core decides (:mod:`cocoon.attestation.dcap`, :mod:`cocoon.attestation.tdx_policy`): whether a
verdict for a quote is still cached, whether the store holds current collateral for its platform,
and what a fetched collateral is good for. This module only does the waiting: it asks a
:class:`CollateralFetcher` (e.g. :class:`PccsFetcher`, a PCCS or Intel PCS over HTTPS through
dcap-qvl) when the core says collateral is needed.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import dcap_qvl

from cocoon.attestation.dcap import Collateral, DcapVerdict, DcapVerifier
from cocoon.attestation.tdx_policy import CollateralStore
from cocoon.errors import CollateralError

PCCS_TIMEOUT_SECONDS = 30.0


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
