"""Driving pyOpenSSL over memory BIOs from asyncio: ciphertext pump, handshake loop, close.

OpenSSL never touches the socket: whatever it wants to send is read out of its outgoing BIO and written
to the asyncio writer, and whatever arrives is written into its incoming BIO.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from OpenSSL import SSL

from cocoon.errors import CertificateError, ConnectionClosedError
from cocoon.net.tls_context import VerifyState, ssl_reason

CHUNK = 65536
CLOSE_TIMEOUT = 2.0


@dataclass
class BioPump:
    """Moves ciphertext between the memory BIOs and the socket, counting bytes each way."""

    sent: int = 0
    received: int = 0

    def flush(self, conn: SSL.Connection, writer: asyncio.StreamWriter) -> None:
        """Write everything OpenSSL has queued to the socket (dropped if the socket is closing)."""
        while True:
            try:
                chunk = conn.bio_read(CHUNK)
            except SSL.WantReadError:
                return
            size = len(chunk)
            if not size:
                return
            self.sent += size
            if not writer.is_closing():
                writer.write(chunk)
            if size < CHUNK:  # a memory BIO returns all it holds: it is empty now (no WantReadError)
                return

    def feed(self, conn: SSL.Connection, data: bytes) -> None:
        """Hand bytes read from the socket to OpenSSL."""
        self.received += len(data)
        conn.bio_write(data)


async def close_connection(
    conn: SSL.Connection, writer: asyncio.StreamWriter, pump: BioPump, *, notify: bool
) -> None:
    """Optionally send close_notify, flush, and close the socket (bounded wait)."""
    if notify:
        with contextlib.suppress(SSL.Error):
            conn.shutdown()
    pump.flush(conn, writer)
    writer.close()
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()


async def run_handshake(
    conn: SSL.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pump: BioPump
) -> None:
    """Drive the handshake to completion; raises `CertificateError` or `ConnectionClosedError`."""
    while True:
        try:
            conn.do_handshake()
        except SSL.WantReadError:
            pump.flush(conn, writer)
            await writer.drain()
            data = await reader.read(CHUNK)
            if not data:
                raise ConnectionClosedError(
                    "peer closed the connection during the TLS handshake; it may have refused our "
                    "certificate or not speak RA-TLS"
                ) from None
            pump.feed(conn, data)
            continue
        except SSL.Error as exc:
            pump.flush(conn, writer)  # deliver our alert so the peer learns why
            raise handshake_error(conn, exc) from exc
        pump.flush(conn, writer)
        await writer.drain()
        return


def handshake_error(conn: SSL.Connection, exc: SSL.Error) -> Exception:
    """Our error for a failed handshake: why verification refused the peer, or OpenSSL's reason."""
    state: VerifyState = conn.get_app_data()
    if state.error is not None:
        return CertificateError(f"peer certificate refused by TLS verification: {state.error}")
    reason = ssl_reason(exc)
    hint = (
        "the peer refused our certificate" if "alert" in reason else "check that the peer speaks RA-TLS 1.3"
    )
    return ConnectionClosedError(f"TLS handshake failed: {reason}; {hint}")
