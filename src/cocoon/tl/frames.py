"""The reference's TCP framing: ``u32le length | i32le seqno | body`` (body = one boxed tcp.* object).

``length`` counts the body only and must be within 4..`MAX_FRAME`; ``seqno`` numbers the frames of
each direction from 0, and any other value is fatal. `FrameDecoder` is incremental and refuses a bad
header as soon as its 8 bytes are in, so a hostile peer cannot make us buffer more than one frame.
"""

from __future__ import annotations

import struct

from cocoon.tl.errors import TLDecodeError, TLEncodeError

MAX_FRAME = 1 << 24
"""Largest body a frame may carry (16 MiB), as in the reference."""
MIN_FRAME = 4
"""Smallest body: a constructor id."""
HEADER_SIZE = 8

_HEADER = struct.Struct("<Ii")


def encode_frame(seqno: int, body: bytes) -> bytes:
    """One frame; raises `TLEncodeError` for a body outside 4..`MAX_FRAME` bytes or a bad seqno."""
    if not MIN_FRAME <= len(body) <= MAX_FRAME:
        raise TLEncodeError(f"frame body of {len(body)} bytes is outside {MIN_FRAME}..{MAX_FRAME}")
    if not 0 <= seqno < 1 << 31:
        raise TLEncodeError(f"frame seqno {seqno} is outside 0..2^31-1")
    return _HEADER.pack(len(body), seqno) + body


class FrameEncoder:
    """Frames the outgoing bodies of one direction, numbering them 0, 1, 2, ..."""

    __slots__ = ("seqno",)

    def __init__(self) -> None:
        self.seqno = 0
        """The seqno of the next frame."""

    def encode(self, body: bytes) -> bytes:
        """The next frame; the seqno advances only when the body is valid."""
        frame = encode_frame(self.seqno, body)
        self.seqno += 1
        return frame


class FrameDecoder:
    """Splits one direction's byte stream into frame bodies, checking lengths and seqnos.

    After it raised `TLDecodeError` the decoder is poisoned: every further `feed` raises again (the
    stream position is lost; close the connection).
    """

    __slots__ = ("_buffer", "_error", "seqno")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._error: TLDecodeError | None = None
        self.seqno = 0
        """The seqno the next frame must carry."""

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the bodies of the frames now complete, in order."""
        if self._error is not None:
            raise TLDecodeError(f"frame stream already broken: {self._error}")
        self._buffer += data
        bodies: list[bytes] = []
        try:
            while len(self._buffer) >= HEADER_SIZE:
                size, seqno = _HEADER.unpack_from(self._buffer)
                if not MIN_FRAME <= size <= MAX_FRAME:
                    raise TLDecodeError(f"frame length {size} is outside {MIN_FRAME}..{MAX_FRAME}")
                if seqno != self.seqno:
                    raise TLDecodeError(f"frame seqno {seqno}, expected {self.seqno}")
                if len(self._buffer) < HEADER_SIZE + size:
                    break
                bodies.append(bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + size]))
                del self._buffer[: HEADER_SIZE + size]
                self.seqno += 1
        except TLDecodeError as exc:
            self._error = exc
            self._buffer.clear()
            raise
        return bodies
