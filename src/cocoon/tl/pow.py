"""The proof of work a COCOON server asks of every new TCP connection, before TLS.

The server sends 24 bytes ``u32le 0x418e1291 | i32le difficulty | 16-byte salt``; the client answers
12 bytes ``u32le 0x01827319 | u64le nonce``. The answer is valid iff the first 8 bytes of
``sha256(salt + nonce_le)``, read as a little-endian u64, have at least ``difficulty`` leading zero
bits. Difficulty 20 costs about 2^20 hashes (seconds in CPython): `solve` is a plain loop for the
caller to run off the event loop, in slices with ``start``/``limit`` if it wants to stay cancellable.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cocoon.tl.errors import PowNotFoundError, TLDecodeError, TLEncodeError

CHALLENGE_MAGIC = 0x418E1291
ANSWER_MAGIC = 0x01827319
CHALLENGE_SIZE = 24
ANSWER_SIZE = 12
SALT_SIZE = 16
DEFAULT_DIFFICULTY = 20
"""What the reference's servers ask."""
MAX_CLIENT_DIFFICULTY = 28
"""The most the reference's clients accept (a higher demand is refused, not solved)."""
MAX_DIFFICULTY = 64
"""The most a challenge can meaningfully ask: all 64 bits zero."""

_CHALLENGE = struct.Struct("<Ii16s")
_ANSWER = struct.Struct("<IQ")
_NONCE = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class Challenge:
    """A decoded challenge: the number of leading zero bits asked and the 16-byte salt."""

    difficulty: int
    salt: bytes


def encode_challenge(difficulty: int, salt: bytes) -> bytes:
    """The 24-byte challenge; raises `TLEncodeError` for a salt that is not 16 bytes or a bad difficulty."""
    if len(salt) != SALT_SIZE:
        raise TLEncodeError(f"PoW salt must be {SALT_SIZE} bytes, got {len(salt)}")
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise TLEncodeError(f"PoW difficulty {difficulty} is outside 0..{MAX_DIFFICULTY}")
    return _CHALLENGE.pack(CHALLENGE_MAGIC, difficulty, salt)


def decode_challenge(data: bytes) -> Challenge:
    """The challenge in exactly 24 bytes; raises `TLDecodeError` for a wrong size, magic or difficulty
    outside 0..64 (whether to solve it is the caller's decision, see `MAX_CLIENT_DIFFICULTY`)."""
    if len(data) != CHALLENGE_SIZE:
        raise TLDecodeError(f"PoW challenge must be {CHALLENGE_SIZE} bytes, got {len(data)}")
    magic, difficulty, salt = _CHALLENGE.unpack(data)
    if magic != CHALLENGE_MAGIC:
        raise TLDecodeError(f"PoW challenge magic {magic:08x}, expected {CHALLENGE_MAGIC:08x}")
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise TLDecodeError(f"PoW difficulty {difficulty} is outside 0..{MAX_DIFFICULTY}")
    return Challenge(int(difficulty), bytes(salt))


def encode_answer(nonce: int) -> bytes:
    """The 12-byte answer carrying `nonce` (u64)."""
    if not 0 <= nonce < 1 << 64:
        raise TLEncodeError(f"PoW nonce {nonce} is outside 0..2^64-1")
    return _ANSWER.pack(ANSWER_MAGIC, nonce)


def decode_answer(data: bytes) -> int:
    """The nonce in exactly 12 bytes; raises `TLDecodeError` for a wrong size or magic."""
    if len(data) != ANSWER_SIZE:
        raise TLDecodeError(f"PoW answer must be {ANSWER_SIZE} bytes, got {len(data)}")
    magic, nonce = _ANSWER.unpack(data)
    if magic != ANSWER_MAGIC:
        raise TLDecodeError(f"PoW answer magic {magic:08x}, expected {ANSWER_MAGIC:08x}")
    return int(nonce)


def check(salt: bytes, nonce: int, difficulty: int) -> bool:
    """Whether `nonce` solves the challenge (`salt`, `difficulty`)."""
    if not 0 <= nonce < 1 << 64:
        return False
    digest = hashlib.sha256(salt + _NONCE.pack(nonce)).digest()
    return 64 - int.from_bytes(digest[:8], "little").bit_length() >= difficulty


def solve(salt: bytes, difficulty: int, start: int = 0, limit: int | None = None) -> int:
    """The first nonce from `start` that solves the challenge, trying at most `limit` nonces (all up
    to 2^64 when None); raises `PowNotFoundError` when they are exhausted. CPU-bound: run it in a
    thread."""
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise TLEncodeError(f"PoW difficulty {difficulty} is outside 0..{MAX_DIFFICULTY}")
    if start < 0 or (limit is not None and limit < 0):
        raise TLEncodeError(f"PoW search from {start} for {limit} nonces: both must be >= 0")
    end = 1 << 64 if limit is None else min(start + limit, 1 << 64)
    # A solution's u64 is below 2^(64-d), so its top byte (digest[7]) is at most `top`: that byte
    # rejects almost every nonce before the int conversion. The salt's hash state is computed once
    # and copied per nonce.
    bound = 1 << (64 - difficulty)
    top = (bound - 1) >> 56
    copy = hashlib.sha256(salt).copy
    pack = _NONCE.pack
    from_bytes = int.from_bytes
    for nonce in range(start, end):
        h = copy()
        h.update(pack(nonce))
        digest = h.digest()
        if digest[7] <= top and from_bytes(digest[:8], "little") < bound:
            return nonce
    raise PowNotFoundError(
        f"no PoW nonce in [{start}, {end}) for difficulty {difficulty}; continue from {end}"
    )
