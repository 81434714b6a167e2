"""Fetching DCAP collateral in the shell: only when the core says a verdict or collateral is missing."""

from __future__ import annotations

from datetime import UTC, datetime

from cocoon.attestation.dcap import Collateral, DcapVerifier
from cocoon.attestation.tdx_policy import CollateralStore
from cocoon.net.collateral import ensure_collateral, verify_fetching

IN_WINDOW = int(datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC).timestamp())  # tcbInfo.issueDate + 1 h


class _Fetcher:
    def __init__(self, collateral: Collateral) -> None:
        self.collateral, self.calls = collateral, 0

    async def fetch(self, quote: bytes) -> Collateral:
        self.calls += 1
        return self.collateral


async def test_verify_fetching_fetches_once(dcap_quote: bytes, dcap_collateral: Collateral) -> None:
    verifier, fetcher = DcapVerifier(), _Fetcher(dcap_collateral)
    a = await verify_fetching(verifier, dcap_quote, fetcher, IN_WINDOW)
    b = await verify_fetching(verifier, dcap_quote, fetcher, IN_WINDOW + 60)
    assert a is b and fetcher.calls == 1


async def test_ensure_collateral_fetches_only_when_needed(
    dcap_quote: bytes, dcap_collateral: Collateral
) -> None:
    store, fetcher = CollateralStore(), _Fetcher(dcap_collateral)
    await ensure_collateral(store, fetcher, dcap_quote, IN_WINDOW)
    await ensure_collateral(store, fetcher, dcap_quote, IN_WINDOW + 60)
    assert fetcher.calls == 1
    assert store.for_quote(dcap_quote, IN_WINDOW) is dcap_collateral
