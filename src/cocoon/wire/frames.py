"""Length-prefixed frames: ``u32 big-endian payload length`` followed by the payload.

A frame carries exactly one encoded message (see `cocoon.wire.codec`). The decoder is incremental:
feed it whatever the transport delivered and it returns the payloads that are complete. An oversized
frame is refused as soon as its 4-byte header is seen, so a hostile peer cannot make us buffer 4 GiB.
"""

from __future__ import annotations

from cocoon.errors import DecodeError, LocalProtocolError

HEADER_SIZE = 4
MAX_PAYLOAD = 16 * 1024 * 1024
"""Largest payload a frame may carry (16 MiB), the same ceiling as the reference's TCP framing."""


def encode_frame(payload: bytes, max_payload: int = MAX_PAYLOAD) -> bytes:
    """Return `payload` with its length header; raises `LocalProtocolError` above `max_payload`."""
    size = len(payload)
    if size > max_payload:
        raise LocalProtocolError(
            f"frame payload of {size} bytes exceeds the {max_payload}-byte limit; "
            "split the data into smaller messages"
        )
    return size.to_bytes(HEADER_SIZE, "big") + payload


class FrameDecoder:
    """Incremental frame splitter: `feed` bytes, get back every complete payload, in order.

    After it raised `DecodeError` the decoder is poisoned: the stream position is lost, so every
    further `feed` raises again (the connection must be closed).
    """

    __slots__ = ("_buffer", "_error", "_max_payload")

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload
        self._error: DecodeError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Append `data` and return the payloads of all frames now complete (possibly none)."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if not buffer:
            # Fast path: split `data` in place and keep only its incomplete tail (one copy per payload).
            payloads, pos = self._split(data)
            buffer += memoryview(data)[pos:]
            return payloads
        buffer += data
        payloads, pos = self._split(buffer)
        if pos:
            del buffer[:pos]
        return payloads

    def _split(self, source: bytes | bytearray) -> tuple[list[bytes], int]:
        """Complete payloads at the start of `source` and the offset just past the last one."""
        payloads: list[bytes] = []
        pos = 0
        end = len(source)
        with memoryview(source) as view:  # slicing a view copies once; slicing a bytearray twice
            while end - pos >= HEADER_SIZE:
                size = int.from_bytes(view[pos : pos + HEADER_SIZE], "big")
                if size > self._max_payload:
                    self._error = DecodeError(
                        f"frame header announces {size} bytes, above the {self._max_payload}-byte "
                        "limit; the peer is not speaking this protocol or is misbehaving"
                    )
                    raise self._error
                start = pos + HEADER_SIZE
                if end - start < size:
                    break
                payloads.append(bytes(view[start : start + size]))
                pos = start + size
        return payloads, pos
