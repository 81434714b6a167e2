"""`Http1Pool`: a lean keep-alive HTTP/1.1 client for the engine's hot path (a JSON POST over plain HTTP).

`EngineClient` sends every streamed and whole answer through it; aiohttp stays for everything else
(forms, GETs, ``https://``). One pool talks to one ``host:port`` over at most ``max_connections``
connections, each an `asyncio.Protocol` around the pure `ResponseParser`:

    response = await pool.post(target, body, sse=True, url=url, timeout_s=30)  # returns at the head
    while data := await response.read():   # body bytes as they arrive (several reads joined)
        ...
    response.release()                     # back to the pool if the answer ended, else closed

A connection carries a new request only once its previous response was read to the end and the server
keeps it alive; a response cut short (`abort`, a cancelled task) closes its connection, so the engine
sees the client go away. A reused connection the server closed while it sat idle fails before any
byte of an answer: the request is then sent once more on a fresh connection.

Timeouts: ``connect_timeout`` bounds getting a connection (waiting for a free one included);
``idle_timeout`` bounds each wait for the next bytes of an answer; ``timeout_s`` bounds the whole call,
body included. Both raise `TimeoutError`; a connection that cannot be made or breaks raises `OSError`
(`IncompleteResponse` when it ends mid-answer); a malformed answer raises `EngineError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from typing import cast

from cocoon.engine.http1_parse import END, IncompleteResponse, ResponseHead, ResponseParser
from cocoon.errors import EngineError

_HIGH_WATER = 256 * 1024
"""Buffered body bytes at which a connection stops reading until the caller catches up."""
_STREAM_ACCEPT = {False: b"Accept: */*\r\n", True: b"Accept: text/event-stream\r\n"}


def _earliest(loop: asyncio.AbstractEventLoop, within: float | None, deadline: float | None) -> float | None:
    """The loop time ``within`` seconds from now or ``deadline``, whichever comes first (None: neither)."""
    when = None if within is None else loop.time() + within
    if deadline is not None and (when is None or deadline < when):
        return deadline
    return when


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One TCP connection; between a request's start and its release, the state of its response."""

    def __init__(self, pool: Http1Pool, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = pool
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None  # None while idle: any byte then is unsolicited
        self.head: ResponseHead | None = None
        self.chunks: list[bytes] = []  # body bytes received, not yet read
        self.size = 0
        self.ended = False  # the whole response arrived
        self.error: BaseException | None = None  # what ended the connection mid-answer
        self.received = False  # a byte of the current response arrived
        self.closed = False
        self.counted = True  # counted against the pool's limit
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a TCP transport (uvloop's is one without subclassing asyncio.Transport: no isinstance check)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # bytes on an idle connection (a 408 before closing, garbage): never reuse it
            self.close()
            return
        self.received = True
        try:
            events = parser.feed(data)
        except EngineError as exc:
            self.error = exc
            self.close()
            self._wake()
            return
        for event in events:
            if type(event) is bytes:
                self.chunks.append(event)
                self.size += len(event)
            elif event is END:
                self.ended = True
            else:
                assert isinstance(event, ResponseHead)
                self.head = event
        if self.size > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close our side too: the connection cannot carry a request any more

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        parser = self.parser
        if parser is not None and self.error is None and not self.ended:
            try:
                self.ended = END in parser.feed_eof()
            except IncompleteResponse as incomplete:
                incomplete.__cause__ = exc
                self.error = incomplete
        self._pool._forget(self)
        self._wake()

    # for the pool and the response

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, deadline: float | None) -> None:
        """Until the next event (bytes, the end, an error), at most ``idle_timeout`` and until
        ``deadline``; `TimeoutError` when either passes first."""
        loop = self._loop
        when = _earliest(loop, self._pool.idle_timeout, deadline)
        waiter = self.waiter = loop.create_future()
        timer = None if when is None else loop.call_at(when, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def start(self, request: bytes, url: str) -> None:
        """Send ``request`` and get ready for its response."""
        assert self.transport is not None
        self.parser = ResponseParser(url)
        self.transport.write(request)

    def reset(self) -> bool:
        """Forget the finished response; whether the connection can carry another request."""
        parser = self.parser
        if self.closed or parser is None or not parser.reusable or self.error is not None:
            return False
        self.parser = self.head = None
        self.chunks = []
        self.size = 0
        self.ended = self.received = False
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return True

    def close(self) -> None:
        """Close the connection now (a response still arriving is cut: the server sees us go)."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        self._pool._forget(self)


class Http1Response:
    """The answer to one request, from its head on: ``status``, ``head``, then `read` the body and
    `release` (or `abort`) it. One reader at a time."""

    __slots__ = ("_conn", "_deadline", "_loop", "_pool", "head", "status")

    def __init__(self, pool: Http1Pool, conn: _Connection, deadline: float | None) -> None:
        assert conn.head is not None
        self._pool = pool
        self._conn = conn
        self._deadline = deadline
        self._loop = conn._loop
        self.head = conn.head
        self.status = conn.head.status

    async def read(self) -> bytes:
        """The body bytes received since the last read (waiting for some), b"" once it has ended."""
        conn = self._conn
        while not conn.chunks:
            if conn.ended:
                return b""
            if conn.error is not None:
                raise conn.error
            if conn.closed:
                raise IncompleteResponse("the connection was closed before the answer ended")
            await conn.wait(self._deadline)
        if self._deadline is not None and self._loop.time() >= self._deadline:
            raise TimeoutError  # the call's deadline bounds a body that never pauses too
        chunks = conn.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        conn.chunks = []
        conn.size = 0
        if conn.paused and conn.transport is not None:
            conn.paused = False
            conn.transport.resume_reading()
        return data

    async def read_all(self) -> bytes:
        """The rest of the body."""
        parts = []
        while data := await self.read():
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    @property
    def ended(self) -> bool:
        """Whether the whole answer arrived."""
        return self._conn.ended

    def release(self) -> None:
        """Done with the answer: its connection goes back to the pool if the answer ended on a
        connection the server keeps alive, else it is closed."""
        self._pool._release(self._conn)

    def abort(self) -> None:
        """Stop now: close the connection (the server sees the client go away)."""
        self._conn.close()


class Http1Pool:
    """Keep-alive connections to one ``host:port``, at most ``max_connections`` (0: no limit).

    ``host_header`` is the ``Host`` field (the URL's authority); ``headers`` go on every request
    (``Authorization``). Use from one event loop; `close` closes every connection.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        host_header: str,
        headers: Mapping[str, str],
        connect_timeout: float | None,
        idle_timeout: float | None,
        max_connections: int,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        for name, value in (("Host", host_header), *headers.items()):
            if any(c in f"{name}{value}" for c in "\r\n\0"):  # it would end the field: another header
                raise EngineError(
                    f"the engine request header {name} holds a line break or NUL; fix its value"
                )
        fields = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._common = f"Host: {host_header}\r\n{fields}Content-Type: application/json\r\n".encode("latin-1")
        self._prefixes: dict[tuple[str, bool], bytes] = {}
        self._idle: list[_Connection] = []  # last released last: the warmest connection is reused first
        self._open: set[_Connection] = set()
        self._connecting = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self.opened = 0
        """Connections opened so far (for tests and statistics)."""

    @property
    def open_connections(self) -> int:
        """Connections open or being opened (in use or idle)."""
        return len(self._open) + self._connecting

    def _prefix(self, target: str, sse: bool) -> bytes:
        """The request head up to the Content-Length value; built once per path."""
        prefix = self._prefixes.get((target, sse))
        if prefix is None:
            prefix = b"POST %s HTTP/1.1\r\n%s%sContent-Length: " % (
                target.encode("ascii"),
                self._common,
                _STREAM_ACCEPT[sse],
            )
            self._prefixes[(target, sse)] = prefix
        return prefix

    async def post(
        self, target: str, body: bytes, *, sse: bool, url: str, timeout_s: float | None
    ) -> Http1Response:
        """POST a JSON ``body`` to ``target`` (the path) and return once the response head arrived.

        ``sse`` asks for an event stream; ``url`` names the engine in errors."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        request = self._prefix(target, sse) + b"%d\r\n\r\n" % len(body) + body
        for attempt in (0, 1):
            conn, reused = await self._acquire(loop, deadline)
            try:
                conn.start(request, url)
                while conn.head is None:
                    if conn.error is not None:
                        raise conn.error
                    if conn.closed:
                        raise IncompleteResponse("the engine closed the connection before answering")
                    await conn.wait(deadline)
            except TimeoutError:  # an OSError too, but a slow engine may be working on it: never resend
                conn.close()
                raise
            except OSError:
                conn.close()
                if reused and not conn.received and attempt == 0:
                    continue  # the server had closed the idle connection: it saw nothing of this request
                raise
            except BaseException:
                conn.close()
                raise
            return Http1Response(self, conn, deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> tuple[_Connection, bool]:
        """An idle connection (True) or a new one (False)."""
        if (idle := self._take_idle()) is not None:
            return idle, True
        async with asyncio.timeout_at(_earliest(loop, self.connect_timeout, deadline)):
            while self.max_connections > 0 and self.open_connections >= self.max_connections:
                await self._wait_for_slot(loop)
                if (idle := self._take_idle()) is not None:
                    return idle, True
            self._connecting += 1
            try:
                _, conn = await loop.create_connection(lambda: _Connection(self, loop), self.host, self.port)
            finally:
                self._connecting -= 1
        if conn.counted:  # else it was lost already, and fails at its first use
            self._open.add(conn)
        self.opened += 1
        return conn, False

    def _take_idle(self) -> _Connection | None:
        """The most recently released idle connection still open (closed ones are dropped on the way)."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        waiter: asyncio.Future[None] = loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            with contextlib.suppress(ValueError):
                self._slot_waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled():
                self._wake_slot_waiter()  # we were woken but give up: pass the turn on
            raise

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, conn: _Connection) -> None:
        if conn.ended and conn.reset():
            self._idle.append(conn)
            self._wake_slot_waiter()
        else:
            conn.close()

    def _forget(self, conn: _Connection) -> None:
        """``conn`` is closed: it no longer counts against the limit."""
        if conn.counted:
            conn.counted = False
            self._open.discard(conn)
            with contextlib.suppress(ValueError):
                self._idle.remove(conn)
            self._wake_slot_waiter()

    async def close(self) -> None:
        """Close every connection (answers still arriving are cut)."""
        for conn in list(self._open):
            conn.close()
        self._idle.clear()
