"""The image hash of spec/attestation.md for fake (all-zero) measurements."""

from __future__ import annotations

from cocoon.attestation.measurements import FAKE_IMAGE_HASH, TdMeasurements


def test_fake_image_hash_matches_spec() -> None:
    assert FAKE_IMAGE_HASH.hex() == "5c55c8f4db4010ba9203d83536d0609856af8c847ac039e37e7dde8fbd574b61"


def test_image_hash_ignores_report_data_but_not_registers() -> None:
    base = TdMeasurements()
    assert TdMeasurements(report_data=b"\x01" * 64).image_hash == base.image_hash
    assert TdMeasurements(rtmr3=b"\x01" * 48).image_hash != base.image_hash


def test_debug_bit() -> None:
    assert TdMeasurements(td_attributes=b"\x01" + bytes(7)).is_debug
    assert not TdMeasurements().is_debug
