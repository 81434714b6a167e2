"""The byte-stream interface the RPC layer runs over, a plain TCP implementation and an in-memory one.

`AttestedStream` (mutual RA-TLS), `PlainStream` (unencrypted TCP, for tests and benchmarks) and
`MemoryStream` (a connected pair inside one event loop, a test double) all satisfy `ByteStream`, so
`RpcConnection` does not know or care which one it drives.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol


class ByteStream(Protocol):
    """A bidirectional, ordered byte stream."""

    async def read(self, max_bytes: int = 65536) -> bytes:
        """Return up to `max_bytes` bytes; ``b""`` means the peer closed its side."""
        ...

    def write(self, data: bytes) -> None:
        """Queue bytes for sending (call `drain` to apply back-pressure)."""
        ...

    async def drain(self) -> None:
        """Wait until the send buffer is below its high-water mark."""
        ...

    async def aclose(self) -> None:
        """Close the stream (idempotent)."""
        ...


class PlainStream:
    """`ByteStream` over an asyncio reader/writer pair without TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int = 65536) -> bytes:
        try:
            return await self._reader.read(max_bytes)
        except (ConnectionError, OSError):
            return b""

    def write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    async def drain(self) -> None:
        transport = self._writer.transport
        # Fast path, once per message sent: an empty send buffer is below any high-water mark.
        if not transport.get_write_buffer_size() and not transport.is_closing():
            return
        # A plain try, not contextlib.suppress: this runs once per message sent and is cheaper.
        try:  # noqa: SIM105
            await self._writer.drain()
        except OSError:  # ConnectionError included; the reader side reports the loss
            pass

    async def aclose(self) -> None:
        if self._writer.is_closing():
            return
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


class MemoryStream:
    """One end of an in-memory `ByteStream` pair (see `memory_stream_pair`), with back-pressure.

    `write` appends to the peer's inbox; `drain` waits while the peer has more than `limit` unread
    bytes; `aclose` is seen by the peer as end of stream once it read what was written before.
    """

    def __init__(self, limit: int = 1 << 20) -> None:
        self._limit = limit
        self._inbox = bytearray()
        self._eof = False  # the peer closed: no more bytes will arrive
        self._closed = False
        self._readable = asyncio.Event()
        self._drained = asyncio.Event()
        self._peer: MemoryStream | None = None

    async def read(self, max_bytes: int = 65536) -> bytes:
        while not self._inbox and not self._eof and not self._closed:
            self._readable.clear()
            await self._readable.wait()
        data = bytes(self._inbox[:max_bytes])
        del self._inbox[:max_bytes]
        if len(self._inbox) <= self._limit:
            self._drained.set()
        return data

    def write(self, data: bytes) -> None:
        peer = self._peer
        if self._closed or peer is None or peer._closed:
            return
        peer._inbox += data
        peer._readable.set()
        if len(peer._inbox) > peer._limit:
            peer._drained.clear()

    async def drain(self) -> None:
        peer = self._peer
        while peer is not None and not self._closed and not peer._closed and not peer._drained.is_set():
            await peer._drained.wait()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._readable.set()
        self._drained.set()
        if self._peer is not None:
            self._peer._eof = True
            self._peer._readable.set()
            self._peer._drained.set()  # releases our own writers waiting in drain


def memory_stream_pair(limit: int = 1 << 20) -> tuple[MemoryStream, MemoryStream]:
    """Two connected in-memory streams; each buffers at most about `limit` unread bytes."""
    first, second = MemoryStream(limit), MemoryStream(limit)
    first._peer, second._peer = second, first
    first._drained.set()
    second._drained.set()
    return first, second
