"""Quote providers: who turns 64 bytes of reportdata into a quote for this machine.

`FakeQuoteProvider` follows the reference's fake TDX (the quote is the reportdata itself);
`StaticQuoteProvider` returns fixed bytes whatever it is asked, a test double for mismatched or
foreign quotes and for benchmarks with realistic sizes. The real provider (configfs-tsm inside a TD)
lives next to the quote parser.
"""

from __future__ import annotations

from typing import Protocol

from cocoon.attestation.claims import REPORT_DATA_SIZE
from cocoon.errors import QuoteError


class QuoteProvider(Protocol):
    """Produces a quote whose reportdata is the given 64 bytes."""

    @property
    def name(self) -> str:
        """Short name for logs and configuration (``fake``, ``tdx``, ...)."""
        ...

    def quote(self, report_data: bytes) -> bytes:
        """Return the raw quote binding ``report_data``; raise `QuoteError` if none can be made."""
        ...


def _check_report_data(report_data: bytes) -> None:
    if len(report_data) != REPORT_DATA_SIZE:
        raise QuoteError(f"reportdata must be {REPORT_DATA_SIZE} bytes, got {len(report_data)}")


class FakeQuoteProvider:
    """Fake TDX: the quote is exactly the 64-byte reportdata (development and tests only)."""

    name = "fake"

    def quote(self, report_data: bytes) -> bytes:
        """Return ``report_data`` itself."""
        _check_report_data(report_data)
        return bytes(report_data)


class StaticQuoteProvider:
    """Returns the same bytes for every request, ignoring reportdata (a test and benchmark double)."""

    def __init__(self, quote: bytes, name: str = "static") -> None:
        self._quote = bytes(quote)
        self.name = name

    def quote(self, report_data: bytes) -> bytes:
        """Return the fixed quote."""
        _check_report_data(report_data)
        return self._quote
