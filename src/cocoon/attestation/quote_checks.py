"""Checks on verified TD measurements: not a debug TD, reportdata bound to the claims.

These run after the quote's cryptography verified (offline or DCAP), e.g. in ``cocoon attest verify``;
allowlists live in :class:`cocoon.attestation.policy.Allowlists`. Failures are
:class:`~cocoon.errors.PolicyError` with a message naming the check, so an operator can tell
"forged" (QuoteError) from "genuine but not allowed" (PolicyError).
"""

from __future__ import annotations

import hmac

from cocoon.attestation.claims import report_data_for
from cocoon.attestation.measurements import TdMeasurements
from cocoon.errors import PolicyError


def check_not_debug(m: TdMeasurements) -> None:
    """Reject a TD with the DEBUG attribute: its memory is readable by the host."""
    if m.is_debug:
        raise PolicyError(
            "TD is in debug mode (td_attributes bit 0 set): its memory is not confidential; "
            "run the image without debug"
        )


def check_report_data(m: TdMeasurements, public_key: bytes) -> None:
    """The quote must bind the key: reportdata == SHA-512(claims), the claims being the raw key."""
    if not hmac.compare_digest(m.report_data, report_data_for(public_key)):
        raise PolicyError(
            "quote reportdata is not SHA-512 of the given key: the quote belongs to another key "
            "(replayed or stolen quote)"
        )
