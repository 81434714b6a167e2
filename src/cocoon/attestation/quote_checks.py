"""Checks on verified TD measurements: not a debug TD, reportdata bound to the claims.

These run after the quote's cryptography verified (offline or DCAP), e.g. in ``cocoon attest verify``;
allowlists live in :class:`cocoon.attestation.policy.Allowlists`. Failures are
:class:`~cocoon.errors.PolicyError` with a message naming the check, so an operator can tell
"forged" (QuoteError) from "genuine but not allowed" (PolicyError).
"""

from __future__ import annotations

import hashlib
import hmac

from cocoon.attestation.measurements import TdMeasurements
from cocoon.errors import PolicyError


def check_not_debug(m: TdMeasurements) -> None:
    """Reject a TD with the DEBUG attribute: its memory is readable by the host."""
    if m.is_debug:
        raise PolicyError(
            "TD is in debug mode (td_attributes bit 0 set): its memory is not confidential; "
            "run the image without debug"
        )


def expected_report_data(claims: bytes) -> bytes:
    """The reportdata a quote must carry for these claims: SHA-512(claims)."""
    return hashlib.sha512(claims).digest()


def check_report_data(m: TdMeasurements, claims: bytes) -> None:
    """The quote must bind the claims (the certificate's key): reportdata == SHA-512(claims)."""
    if not hmac.compare_digest(m.report_data, expected_report_data(claims)):
        raise PolicyError(
            "quote reportdata does not match SHA-512 of the certificate's claims: the quote belongs to "
            "another key (replayed or stolen quote)"
        )
