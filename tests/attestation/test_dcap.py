"""Full DCAP verification with dcap-qvl on the real vector and its collateral, with pinned time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from cocoon.attestation.dcap import Collateral, DcapVerifier, quote_fmspc
from cocoon.attestation.quote_verify import INTEL_ROOT_KEY_ID
from cocoon.errors import CollateralError, QuoteError, QuoteSignatureError, TcbStatusError

QUOTE = "dcap-tdx-quote.bin"
COLLATERAL = "dcap-tdx-quote-collateral.json"
ISSUE = int(datetime(2025, 6, 19, 10, 16, 3, tzinfo=UTC).timestamp())  # tcbInfo.issueDate
IN_WINDOW = ISSUE + 3600
TODAY = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def quote(vectors) -> bytes:
    return vectors.read(QUOTE)


@pytest.fixture(scope="module")
def collateral(vectors) -> Collateral:
    return Collateral.from_json(vectors.text(COLLATERAL))


def test_collateral_window_is_earliest_next_update(collateral: Collateral) -> None:
    # PCK CRL nextUpdate 2025-07-19T10:00:35Z is earlier than tcbInfo/qeIdentity (10:16:03 / 10:32:27).
    assert collateral.next_update == int(datetime(2025, 7, 19, 10, 0, 35, tzinfo=UTC).timestamp())
    assert collateral.issued_at <= IN_WINDOW < collateral.next_update
    assert collateral.fmspc == "B0C06F000000"


def test_quote_fmspc(quote: bytes) -> None:
    assert quote_fmspc(quote) == "B0C06F000000"
    with pytest.raises(QuoteError, match="cannot read the FMSPC"):
        quote_fmspc(b"garbage")


def test_verifies_up_to_date_in_window(quote: bytes, collateral: Collateral) -> None:
    verdict = DcapVerifier().verify(quote, collateral, IN_WINDOW)
    assert verdict.tcb_status == "UpToDate"
    assert verdict.measurements.image_hash.hex().startswith("b260fa91")
    assert verdict.root_key_id == INTEL_ROOT_KEY_ID
    assert verdict.valid_until == collateral.next_update


def test_expired_collateral_today(quote: bytes, collateral: Collateral) -> None:
    with pytest.raises(CollateralError, match="collateral expired at 2025-07-19"):
        DcapVerifier().verify(quote, collateral, TODAY)


def test_library_expiry_is_mapped(quote: bytes, collateral: Collateral) -> None:
    # Pretend our own window check passed: dcap-qvl's own expiry error must still be a CollateralError.
    wide = dataclasses.replace(collateral, next_update=TODAY + 1)
    with pytest.raises(CollateralError, match="DCAP: collateral or certificate expired"):
        DcapVerifier().verify(quote, wide, TODAY)


def test_collateral_from_the_future(quote: bytes, collateral: Collateral) -> None:
    with pytest.raises(CollateralError, match="collateral is not valid yet"):
        DcapVerifier().verify(quote, collateral, ISSUE - 7200)


def test_status_not_accepted(quote: bytes, collateral: Collateral) -> None:
    verifier = DcapVerifier(accepted_statuses=frozenset({"SWHardeningNeeded"}))
    with pytest.raises(TcbStatusError, match="TCB status UpToDate is not accepted"):
        verifier.verify(quote, collateral, IN_WINDOW)


def test_cache_hit_then_expiry(quote: bytes, collateral: Collateral) -> None:
    verifier = DcapVerifier()
    first = verifier.verify(quote, collateral, IN_WINDOW)
    assert verifier.cached(quote, IN_WINDOW + 10) is first
    assert verifier.cached(quote, collateral.next_update - 1) is first
    assert verifier.cached(quote, collateral.next_update) is None  # never cached past the update
    assert verifier.cached(quote, IN_WINDOW) is None  # the expired entry was dropped
    with pytest.raises(CollateralError):
        verifier.verify(quote, collateral, collateral.next_update)


def test_cache_is_bounded(quote: bytes, collateral: Collateral) -> None:
    verifier = DcapVerifier(cache_size=1)
    verifier.verify(quote, collateral, IN_WINDOW)
    padded = quote + bytes(1)  # same quote, different bytes: a second cache key
    verifier.verify(padded, collateral, IN_WINDOW)
    assert verifier.cached(quote, IN_WINDOW) is None
    assert verifier.cached(padded, IN_WINDOW) is not None


def test_tampered_quote_rejected_before_dcap(quote: bytes, collateral: Collateral) -> None:
    data = bytearray(quote)
    data[300] ^= 0x80
    with pytest.raises(QuoteSignatureError):
        DcapVerifier().verify(bytes(data), collateral, IN_WINDOW)


def test_malformed_quote_is_quote_error(collateral: Collateral) -> None:
    with pytest.raises(QuoteError, match="malformed TDX quote: quote: version at offset 0"):
        DcapVerifier().verify(b"\x03" + bytes(700), collateral, IN_WINDOW)


def test_bad_collateral_json() -> None:
    with pytest.raises(CollateralError, match="collateral JSON does not load"):
        Collateral.from_json('{"tcb_info": 1}')
