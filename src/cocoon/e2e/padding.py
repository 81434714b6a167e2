"""Padding to size buckets, so ciphertext lengths say less about the plaintext (spec/e2e.md).

A request is padded to a multiple of 256 bytes, a response frame to a multiple of 64; the padding is
zeros after the payload, whose length is carried inside the ciphertext before it, so only the bucket
shows.
"""

from __future__ import annotations

from cocoon.errors import E2EError

REQUEST_BUCKET = 256
FRAME_BUCKET = 64


def pad_to(data: bytes, bucket: int) -> bytes:
    """``data`` followed by zeros up to the next multiple of ``bucket`` (at least one bucket)."""
    size = max(bucket, -(-len(data) // bucket) * bucket)
    return data + bytes(size - len(data))


def pad_request(body: bytes) -> bytes:
    """A request body as it is sealed: a 4-byte big-endian length, the body, zeros to 256 bytes."""
    fill = -(len(body) + 4) % REQUEST_BUCKET  # at least one bucket: the prefix makes it non-empty
    return b"".join((len(body).to_bytes(4, "big"), body, bytes(fill)))


def unpad_request(padded: bytes) -> bytes:
    """The body of `pad_request` output; `E2EError` if the length prefix does not fit."""
    if len(padded) < 4:
        raise E2EError("e2e_open_failed", "the sealed request is shorter than its length prefix")
    size = int.from_bytes(padded[:4], "big")
    end = 4 + size
    # The padding must be all zeros: counted in C rather than tested byte by byte.
    if end > len(padded) or padded.count(0, end) != len(padded) - end:
        raise E2EError("e2e_open_failed", "the sealed request's length prefix or padding is wrong")
    return padded[4:end]
