"""What a policy learned about a peer once it accepted the peer's certificate."""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.attestation.measurements import TdMeasurements


@dataclass(frozen=True, slots=True)
class AttestedPeer:
    """An accepted peer: its key, the policy that accepted it and the attested facts, if any."""

    public_key: bytes
    """Raw 32-byte Ed25519 key of the peer's certificate (its identity on this connection)."""
    policy: str
    """Name of the policy that accepted the peer (``any``, ``fake``, ``tdx``...)."""
    measurements: TdMeasurements | None
    """Measured registers from a verified quote; ``None`` when the policy required no attestation."""
    image_hash: bytes | None
    """SHA-256 image hash of the measurements (what allowlists hold); ``None`` when unattested."""
    quote: bytes | None
    """The raw quote from the certificate, as sent."""
    statement: bytes = b""
    """Statement bytes following the key in the claims extension (verified elsewhere)."""
    certificate_sha256: bytes = b""
    """SHA-256 of the peer certificate's DER."""

    @property
    def is_attested(self) -> bool:
        """True when a quote was verified for this peer."""
        return self.measurements is not None

    def describe(self) -> str:
        """One line for logs: key prefix, policy, image hash."""
        image = self.image_hash.hex() if self.image_hash is not None else "unattested"
        return f"key {self.public_key.hex()[:16]}… policy {self.policy} image {image}"
