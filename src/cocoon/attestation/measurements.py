"""TD measurements as found in a TDX report body, and the image hash that identifies an image.

The image hash identifies the code, not the instance (spec/attestation.md): SHA-256 over the eight
48-byte measurement registers followed by 64 zero bytes in place of reportdata, 448 bytes in all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MEASUREMENT_SIZE = 48
REPORT_DATA_SIZE = 64
_ZERO_MEASUREMENT = bytes(MEASUREMENT_SIZE)


@dataclass(frozen=True, slots=True)
class TdMeasurements:
    """The measured registers of a trust domain, its attributes and the 64-byte reportdata."""

    mr_td: bytes = _ZERO_MEASUREMENT
    mr_config_id: bytes = _ZERO_MEASUREMENT
    mr_owner: bytes = _ZERO_MEASUREMENT
    mr_owner_config: bytes = _ZERO_MEASUREMENT
    rtmr0: bytes = _ZERO_MEASUREMENT
    rtmr1: bytes = _ZERO_MEASUREMENT
    rtmr2: bytes = _ZERO_MEASUREMENT
    rtmr3: bytes = _ZERO_MEASUREMENT
    report_data: bytes = bytes(REPORT_DATA_SIZE)
    td_attributes: bytes = bytes(8)

    def __post_init__(self) -> None:
        for name in (
            "mr_td",
            "mr_config_id",
            "mr_owner",
            "mr_owner_config",
            "rtmr0",
            "rtmr1",
            "rtmr2",
            "rtmr3",
        ):
            if len(getattr(self, name)) != MEASUREMENT_SIZE:
                raise ValueError(f"{name} must be {MEASUREMENT_SIZE} bytes")
        if len(self.report_data) != REPORT_DATA_SIZE:
            raise ValueError(f"report_data must be {REPORT_DATA_SIZE} bytes")
        if len(self.td_attributes) != 8:
            raise ValueError("td_attributes must be 8 bytes")

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        """RTMR0..3 in order."""
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    @property
    def is_debug(self) -> bool:
        """True when the TD's DEBUG attribute (td_attributes bit 0) is set: such a TD is not confidential."""
        return bool(self.td_attributes[0] & 1)

    @property
    def image_hash(self) -> bytes:
        """SHA-256 of the measurements with reportdata replaced by zeros (32 bytes)."""
        return image_hash(self)


def image_hash(m: TdMeasurements) -> bytes:
    """The image hash of spec/attestation.md: same for every instance of one image."""
    blob = b"".join(
        (m.mr_td, m.mr_config_id, m.mr_owner, m.mr_owner_config, m.rtmr0, m.rtmr1, m.rtmr2, m.rtmr3)
    )
    return hashlib.sha256(blob + bytes(REPORT_DATA_SIZE)).digest()


FAKE_IMAGE_HASH = image_hash(TdMeasurements())
"""Image hash of a fake quote (all-zero measurements): 5c55c8f4…4b61."""
