"""HKDF-SHA256 (RFC 5869) in the two halves the spec names: `extract` and `expand`.

HMAC-SHA256 (RFC 2104) is computed here from two SHA-256 calls over the key XORed with the pads (by
`bytes.translate`): every request and answer derives its keys afresh, and this costs about two thirds
of `hmac.digest` or `HKDFExpand` for the short inputs HKDF hashes. The tests check it byte for byte
against both.
"""

from __future__ import annotations

import hashlib

_BLOCK = 64
"""SHA-256's block size: longer HMAC keys are hashed first, shorter ones padded with zeros."""
_DIGEST = 32
MAX_LENGTH = 255 * _DIGEST
"""The most output one HKDF-Expand may give."""
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))
_sha256 = hashlib.sha256


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key``."""
    if len(key) > _BLOCK:
        key = _sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return _sha256(key.translate(_OPAD) + _sha256(key.translate(_IPAD) + message).digest()).digest()


def extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract: the 32-byte pseudorandom key of ``ikm`` under ``salt``."""
    return hmac_sha256(salt, ikm)


def expand(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand: ``length`` bytes of output keyed by ``prk`` for the purpose ``info``."""
    if not 0 <= length <= MAX_LENGTH:
        raise ValueError(f"HKDF-Expand gives at most {MAX_LENGTH} bytes, not {length}")
    if length <= _DIGEST:  # every key and nonce of the protocol: T(1) alone
        return hmac_sha256(prk, info + b"\x01")[:length]
    block, out = b"", b""
    for counter in range(1, -(-length // _DIGEST) + 1):
        block = hmac_sha256(prk, block + info + bytes((counter,)))
        out += block
    return out[:length]
