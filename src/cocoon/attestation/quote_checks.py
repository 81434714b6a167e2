"""Policy-level checks on verified TD measurements: not debug, reportdata binding, allowlists.

These run after the quote's cryptography verified (offline or DCAP); they say whether a genuine TD is
one we want to talk to. Failures are :class:`~cocoon.errors.PolicyError` with a message naming the
check, so an operator can tell "forged" (QuoteError) from "genuine but not allowed" (PolicyError).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cocoon.attestation.measurements import TdMeasurements
from cocoon.errors import PolicyError

Rtmrs = tuple[bytes, bytes, bytes, bytes]


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


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Allowed MRTDs, RTMR sets and image hashes; an empty set allows anything for that field."""

    mr_tds: frozenset[bytes] = frozenset()
    rtmr_sets: frozenset[Rtmrs] = frozenset()
    image_hashes: frozenset[bytes] = frozenset()

    @property
    def is_empty(self) -> bool:
        """True when no field is restricted."""
        return not (self.mr_tds or self.rtmr_sets or self.image_hashes)

    def check(self, m: TdMeasurements) -> None:
        """Raise PolicyError naming the first restricted field the measurements fail."""
        if self.mr_tds and m.mr_td not in self.mr_tds:
            raise PolicyError(f"MRTD {m.mr_td.hex()[:16]}… is not in the allowed set; update the allowlist")
        if self.rtmr_sets and m.rtmrs not in self.rtmr_sets:
            raise PolicyError("RTMR0..3 are not an allowed set; the TD runs an unexpected kernel or config")
        if self.image_hashes and m.image_hash not in self.image_hashes:
            raise PolicyError(
                f"image hash {m.image_hash.hex()} is not allowed (not in the root contract's list); "
                "the peer runs an image we do not trust"
            )
