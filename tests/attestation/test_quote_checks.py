"""Checks on measurements: debug TDs and reportdata binding."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from cocoon.attestation.measurements import TdMeasurements
from cocoon.attestation.quote import parse_quote
from cocoon.attestation.quote_checks import check_not_debug, check_report_data
from cocoon.errors import PolicyError

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def measured(vectors) -> TdMeasurements:
    return parse_quote(vectors.read("cocoon-tdx-quote.dat")).measurements


def test_real_quote_is_not_debug(measured: TdMeasurements) -> None:
    check_not_debug(measured)


def test_debug_attribute_rejected(measured: TdMeasurements) -> None:
    attrs = bytes([measured.td_attributes[0] | 1]) + measured.td_attributes[1:]
    debug = dataclasses.replace(measured, td_attributes=attrs)
    assert debug.image_hash == measured.image_hash  # the image hash cannot see the debug bit
    with pytest.raises(PolicyError, match="debug mode"):
        check_not_debug(debug)


def test_report_data_binding() -> None:
    bound = TdMeasurements(report_data=hashlib.sha512(KEY).digest())
    check_report_data(bound, KEY)
    with pytest.raises(PolicyError, match="reportdata is not SHA-512 of the given key"):
        check_report_data(bound, bytes(32))
