"""The reference schema files kept beside the repository (../shared/reference/cocoon-tl)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "cocoon-tl"


def reference_file(name: str) -> Path:
    """A file of the reference schema folder; fails (never skips) when it is missing: CI has it."""
    path = REFERENCE / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the TL tests need the reference schema (shared/reference/cocoon-tl)")
    return path
