"""Fetching DCAP collateral in the shell: only when the core says a verdict or collateral is missing."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from cocoon.attestation.dcap import Collateral, DcapVerifier
from cocoon.attestation.tdx_policy import CollateralStore
from cocoon.errors import CollateralError
from cocoon.net.collateral import CollateralKeeper, PccsFetcher, ensure_collateral, verify_fetching
from fake_pccs import FakePccs

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


class _Failing:
    def __init__(self) -> None:
        self.calls = 0

    async def fetch(self, quote: bytes) -> Collateral:
        self.calls += 1
        raise CollateralError("PCCS down")


async def test_keeper_refreshes_before_next_update(dcap_quote: bytes, dcap_collateral: Collateral) -> None:
    newer = dataclasses.replace(dcap_collateral, issued_at=dcap_collateral.issued_at + 1)
    store, fetcher = CollateralStore((dcap_collateral,)), _Fetcher(newer)
    keeper = CollateralKeeper(store, fetcher, refresh_margin=3600, retry_after=300)
    await keeper.ensure(dcap_quote, IN_WINDOW)  # far from nextUpdate: the loaded one is used
    assert fetcher.calls == 0
    due = dcap_collateral.next_update - 1800
    await keeper.ensure(dcap_quote, due)
    assert fetcher.calls == 1 and store.get(dcap_collateral.fmspc, due) is newer
    await keeper.ensure(dcap_quote, due + 60)  # tried a minute ago: not again yet
    assert fetcher.calls == 1
    await keeper.ensure(dcap_quote, due + 400)
    assert fetcher.calls == 2


async def test_keeper_keeps_current_collateral_when_the_refresh_fails(
    dcap_quote: bytes, dcap_collateral: Collateral, caplog: pytest.LogCaptureFixture
) -> None:
    store, fetcher = CollateralStore((dcap_collateral,)), _Failing()
    keeper = CollateralKeeper(store, fetcher, refresh_margin=3600)
    await keeper.ensure(dcap_quote, dcap_collateral.next_update - 60)
    assert fetcher.calls == 1 and "refreshing DCAP collateral for FMSPC B0C06F000000 failed" in caplog.text
    assert store.get(dcap_collateral.fmspc, dcap_collateral.next_update - 60) is dcap_collateral
    with pytest.raises(CollateralError, match="PCCS down"):  # nothing to fall back on
        await CollateralKeeper(CollateralStore(), fetcher).ensure(dcap_quote, IN_WINDOW)


async def test_keeper_fetches_once_for_concurrent_handshakes(
    dcap_quote: bytes, dcap_collateral: Collateral
) -> None:
    fetcher = _Fetcher(dcap_collateral)
    keeper = CollateralKeeper(CollateralStore(), fetcher)
    await asyncio.gather(*(keeper.ensure(dcap_quote, IN_WINDOW) for _ in range(5)))
    assert fetcher.calls == 1 and keeper.fetches == 1


async def test_keeper_refuses_collateral_of_another_platform(
    dcap_quote: bytes, dcap_collateral: Collateral
) -> None:
    other = _Fetcher(dataclasses.replace(dcap_collateral, fmspc="00906ED50000"))
    with pytest.raises(CollateralError, match="FMSPC 00906ED50000 to a quote of FMSPC B0C06F000000"):
        await CollateralKeeper(CollateralStore(), other).ensure(dcap_quote, IN_WINDOW)


async def test_keeper_leaves_fake_and_garbage_quotes_to_the_policy(dcap_collateral: Collateral) -> None:
    fetcher = _Fetcher(dcap_collateral)
    keeper = CollateralKeeper(CollateralStore(), fetcher)
    await keeper.ensure(bytes(64), IN_WINDOW)
    await keeper.ensure(b"not a quote" * 10, IN_WINDOW)
    assert fetcher.calls == 0


async def test_pccs_fetcher_builds_the_vector_collateral(
    dcap_quote: bytes, dcap_collateral: Collateral, vectors
) -> None:
    async with FakePccs(vectors.text("dcap-tdx-quote-collateral.json")) as pccs:
        fetched = await PccsFetcher(pccs.url).fetch(dcap_quote)
        assert fetched.fmspc == "B0C06F000000" and fetched.next_update == dcap_collateral.next_update
        assert fetched.value.tcb_info == dcap_collateral.value.tcb_info
        pccs.available = False
        with pytest.raises(CollateralError, match="gave no collateral"):
            await PccsFetcher(pccs.url).fetch(dcap_quote)
