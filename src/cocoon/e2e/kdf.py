"""HKDF-SHA256 (RFC 5869) in the two halves the spec names: `extract` and `expand`."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand


def extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract: the 32-byte pseudorandom key of ``ikm`` under ``salt``."""
    return hmac.digest(salt, ikm, hashlib.sha256)


def expand(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand: ``length`` bytes of output keyed by ``prk`` for the purpose ``info``."""
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)
