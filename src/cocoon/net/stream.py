"""The byte-stream interface the RPC layer runs over, and a plain TCP implementation of it.

`AttestedStream` (mutual RA-TLS) and `PlainStream` (unencrypted, for tests and benchmarks) both satisfy
`ByteStream`, so `RpcConnection` does not know or care which one it drives.
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
