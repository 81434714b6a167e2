"""Shared test fixtures.

``vectors``: real attestation test data kept outside the repository (shared/vectors/README.md). The
directory is ``$COCOON_VECTORS`` or ``../shared/vectors`` relative to the repository root; a test that
needs a file that is not there is skipped with a message naming the file (never silently passed).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cocoon.attestation.dcap import Collateral

REPO_ROOT = Path(__file__).resolve().parent.parent


class Vectors:
    """Access to the shared test vectors; ``path``/``read`` skip the calling test if a file is missing."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        """Path of vector ``name``; skips the test when it does not exist."""
        path = self.root / name
        if not path.is_file():
            pytest.skip(f"test vector {name} not found in {self.root} (set COCOON_VECTORS to its directory)")
        return path

    def read(self, name: str) -> bytes:
        """Bytes of vector ``name``; skips the test when it does not exist."""
        return self.path(name).read_bytes()

    def text(self, name: str) -> str:
        """Text of vector ``name``; skips the test when it does not exist."""
        return self.path(name).read_text(encoding="utf-8")


def vectors_root() -> Path:
    """The vectors directory: $COCOON_VECTORS, else ../shared/vectors next to the repository."""
    override = os.environ.get("COCOON_VECTORS")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors() -> Vectors:
    """The shared test vectors (session-scoped so Hypothesis tests may use it)."""
    return Vectors(vectors_root())


@pytest.fixture(scope="module")
def dcap_quote(vectors: Vectors) -> bytes:
    """The real TDX quote whose DCAP collateral the vectors hold."""
    return vectors.read("dcap-tdx-quote.bin")


@pytest.fixture(scope="module")
def dcap_collateral(vectors: Vectors) -> Collateral:
    """The DCAP collateral of :func:`dcap_quote` (valid around tcbInfo.issueDate)."""
    return Collateral.from_json(vectors.text("dcap-tdx-quote-collateral.json"))
