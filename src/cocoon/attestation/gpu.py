"""GPU confidential-computing evidence, as far as a statement needs it (pure; spec/attestation.md).

NVIDIA's verifier packages need network access (OCSP, RIM service) and are deprecated, so the check
of the evidence itself stays behind `GpuEvidenceSource`: what a worker claims is a digest of the raw
evidence plus the GPU model and VRAM the evidence reports, signed into its statement so peers can see
and require it. `parse_local_evidence` reads a locally saved evidence report; `FakeGpuEvidence` is the
test double (there is no GPU here).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

from cocoon.errors import ConfigError


@dataclass(frozen=True, slots=True)
class GpuEvidence:
    """Digest of the raw evidence and the facts it reports."""

    sha256: bytes
    model: str
    vram_mb: int


class GpuEvidenceSource(Protocol):
    """Where a worker's GPU evidence comes from (a local report, a verifier, a fake)."""

    def evidence(self) -> GpuEvidence | None:
        """The evidence to claim, or None when the node has no GPU in confidential-computing mode."""
        ...


class NoGpuEvidence:
    """A node that claims no GPU (proxies; workers running on CPU)."""

    def evidence(self) -> GpuEvidence | None:
        return None


@dataclass(frozen=True, slots=True)
class FakeGpuEvidence:
    """Test double: claims a GPU with made-up evidence bytes."""

    model: str = "FAKE-GPU"
    vram_mb: int = 81_920
    raw: bytes = b"fake gpu evidence"

    def evidence(self) -> GpuEvidence | None:
        return GpuEvidence(hashlib.sha256(self.raw).digest(), self.model, self.vram_mb)


@dataclass(frozen=True, slots=True)
class LocalGpuEvidence:
    """Evidence saved to a file by the GPU attestation step at boot (read by the service shell)."""

    raw: bytes

    def evidence(self) -> GpuEvidence | None:
        return parse_local_evidence(self.raw)


def parse_local_evidence(raw: bytes) -> GpuEvidence:
    """Parse a local evidence report: JSON with ``gpu_model`` and ``vram_mb``; the digest covers every byte.

    The report is whatever the boot-time GPU attestation wrote (its evidence blobs included); only the
    two reported facts are read here, the rest is bound by the digest.
    """
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(
            f"GPU evidence is not JSON: {exc}; point gpu_evidence_file at the saved report"
        ) from exc
    if not isinstance(doc, dict):
        raise ConfigError("GPU evidence must be a JSON object with gpu_model and vram_mb")
    model, vram = doc.get("gpu_model"), doc.get("vram_mb")
    if (
        not isinstance(model, str)
        or not model
        or not isinstance(vram, int)
        or isinstance(vram, bool)
        or vram <= 0
    ):
        raise ConfigError("GPU evidence needs a non-empty string gpu_model and a positive integer vram_mb")
    return GpuEvidence(hashlib.sha256(raw).digest(), model, vram)
