"""The client API's fast lane: its hot requests served straight off the socket, all others by aiohttp.

Every connection to the client daemon's API starts in the lane (`FastLaneSite` makes them). While it
carries requests `cocoon.client.http1_lane.recognize` takes (the plain JSON POSTs of the inference
endpoints, as the OpenAI SDKs send them), each is read, handed to the lane's handler and its answer
written here: a `WholeAnswer` with its ``Content-Length``, an `EventStream` chunked, its head going out
with the first event when that one is ready within the same loop turn. At the first request it does
not take, the connection is handed to aiohttp's server for the rest of its life, with the bytes read
so far: every other route, every browser request (CORS), every malformed one is aiohttp's, answered
exactly as before. What the lane saves is aiohttp's request and response objects, router,
middlewares and writer: about a tenth of the client's CPU per request.

As under aiohttp with handler cancellation: the caller going away cancels its request's task (and so
the request end to end), requests on one connection are answered in order, an idle connection is
closed after `KEEPALIVE_S`, and stopping the site lets requests in flight finish (up to the runner's
shutdown timeout) before their connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import cast

from aiohttp import web

from cocoon.client.http1_lane import (
    HANDOVER,
    LAST_CHUNK,
    NEED_MORE,
    LaneRequest,
    chunk,
    recognize,
    response_head,
)
from cocoon.client.responses import EventStream, WholeAnswer, error_answer
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import RequestError
from cocoon.wire.messages import AnswerEnd

log = logging.getLogger(__name__)

LaneHandler = Callable[[LaneRequest, bytes], Awaitable[WholeAnswer | EventStream]]
"""Serves one request the lane took (its head and whole body): the answer to write."""

KEEPALIVE_S = 75.0
"""How long an idle connection is kept open (aiohttp's default)."""
_UNREAD_LIMIT = 1024 * 1024
"""Unread bytes (requests pipelined behind the one being served) at which reading pauses."""

INTERNAL_ERROR = RequestError(
    "The client daemon failed to serve this request (its log says why); retry it.",
    status=500,
    error_type="server_error",
    code="internal_error",
)
BAD_HEADERS = RequestError(
    "The network's answer carried a header HTTP cannot carry; retry the request.",
    status=502,
    error_type="upstream_error",
    code="upstream_error",
)


class FastLane:
    """The lane of one API: its handler, the paths it takes, its body bound; its open connections."""

    def __init__(
        self, handle: LaneHandler, paths: frozenset[str], max_body: int, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.handle = handle
        self.paths = paths
        self.max_body = max_body
        self.clock = clock
        self.connections: set[_LaneConnection] = set()
        self.served = 0
        """Requests the lane answered."""
        self.handed_over = 0
        """Connections handed to aiohttp."""
        self._date = ""
        self._date_second = -1

    def date(self) -> str:
        """The ``Date`` of a response now (formatted once a second)."""
        now = int(self.clock.time())
        if now != self._date_second:
            self._date, self._date_second = formatdate(now, usegmt=True), now
        return self._date

    def finished(self, end: AnswerEnd) -> None:
        """A `cocoon.client.stats.StatsPart`: the lane counts connections, not answers."""

    def snapshot(self) -> dict[str, int]:
        """For /jsonstats (``client.fast_lane``)."""
        return {"served": self.served, "handed_over": self.handed_over, "open": len(self.connections)}

    def prometheus(self) -> list[str]:
        return [
            "# TYPE cocoon_client_fast_lane_requests_total counter",
            f"cocoon_client_fast_lane_requests_total {self.served}",
            "# TYPE cocoon_client_fast_lane_handovers_total counter",
            f"cocoon_client_fast_lane_handovers_total {self.handed_over}",
        ]

    async def shutdown(self, timeout_s: float) -> None:
        """Close idle connections now; let requests in flight finish within ``timeout_s``, then
        cancel them; close every connection."""
        busy = []
        for conn in list(self.connections):
            conn.closing = True
            if conn.task is None:
                conn.close()
            else:
                busy.append(conn.task)
        if busy:
            _, pending = await asyncio.wait(busy, timeout=timeout_s)
            for task in pending:
                task.cancel()
        for conn in list(self.connections):
            conn.close()


class FastLaneSite(web.TCPSite):
    """aiohttp's TCP site whose connections start in ``lane`` (see the module docstring)."""

    def __init__(self, runner: web.BaseRunner, lane: FastLane, host: str, port: int) -> None:
        super().__init__(runner, host, port)
        self.lane = lane

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        lane = self.lane
        listening = await asyncio.get_running_loop().create_server(
            lambda: _LaneConnection(lane, server), self._host, self._port, backlog=self._backlog
        )
        self._server = listening
        self._bound_port = listening.sockets[0].getsockname()[1] if listening.sockets else self._port

    async def stop(self) -> None:
        await super().stop()
        # The runner's shutdown timeout (aiohttp's own waits as long for its connections).
        await self.lane.shutdown(getattr(self._runner, "_shutdown_timeout", 60.0))


class _LaneConnection(asyncio.Protocol):
    """One connection while it is the lane's: its unread bytes and the request being served."""

    def __init__(self, lane: FastLane, fallback: Callable[[], asyncio.Protocol]) -> None:
        self.lane = lane
        self.fallback = fallback
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.unread = bytearray()
        self.scanned = 0  # bytes of an unfinished head already looked at (`recognize`)
        self.head: LaneRequest | None = None  # a request whose body is still coming
        self.task: asyncio.Task[None] | None = None
        self.closing = False  # answer the request in flight, then close
        self.reading = True
        self.writing = True
        self.drained: asyncio.Future[None] | None = None
        self.idle_since = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a TCP transport (uvloop's is one without subclassing asyncio.Transport: no isinstance check)
        self.transport = cast(asyncio.Transport, transport)
        self.lane.connections.add(self)
        self._idle()

    def data_received(self, data: bytes) -> None:
        self.unread += data
        if self.task is None:
            self.idle_since = self.loop.time()  # a request is coming in: not idle
            self._next()
        elif len(self.unread) > _UNREAD_LIMIT and self.reading and self.transport is not None:
            self.reading = False  # pipelined requests pile up behind a slow answer: wait for it
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # the caller is done sending: close (a request in flight is cancelled)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lane.connections.discard(self)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.task is not None:
            self.task.cancel()  # the caller went away: stop its request end to end
        self._wake_writer()

    def pause_writing(self) -> None:
        self.writing = False

    def resume_writing(self) -> None:
        self.writing = True
        self._wake_writer()

    # the requests

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _next(self) -> None:
        """Start serving the next request in ``unread``, hand the connection over, or wait for bytes."""
        found = self.head or recognize(self.unread, self.lane.paths, self.lane.max_body, scanned=self.scanned)
        if found is NEED_MORE:
            self.scanned = len(self.unread)  # the next bytes are looked at alone
            return
        self.scanned = 0
        if found is HANDOVER:
            self._hand_over()
            return
        assert isinstance(found, LaneRequest)
        if len(self.unread) < found.end:
            self.head = found  # its body is still coming: the head is not read again
            return
        self.head = None
        body = bytes(self.unread[found.body_start : found.end])
        del self.unread[: found.end]
        self.task = self.loop.create_task(self._serve(found, body))

    def _hand_over(self) -> None:
        """From now on the connection is aiohttp's, starting with the bytes not read yet."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.lane.connections.discard(self)
        self.lane.handed_over += 1
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        handler = self.fallback()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        unread, self.unread = bytes(self.unread), bytearray()
        if not self.reading:
            transport.resume_reading()
        if unread:
            handler.data_received(unread)

    async def _serve(self, request: LaneRequest, body: bytes) -> None:
        answer: WholeAnswer | EventStream | None = None
        try:
            answer = await self.lane.handle(request, body)
            self.lane.served += 1
            close = not request.keep_alive or self.closing  # said in the head when it is known
            if isinstance(answer, WholeAnswer):
                self._write_whole(answer, close)
            else:
                await self._write_stream(answer, close)
        except asyncio.CancelledError:
            self.close()
            raise
        except ConnectionError as exc:
            log.debug("the caller of %s left mid-answer: %s", request.path, exc)
            self.close()
            return
        except Exception:
            log.exception("the client API failed to answer %s", request.path)
            if answer is None:  # nothing was written: say so, as aiohttp's 500 would
                with contextlib.suppress(ConnectionError):
                    self._write_whole(error_answer(INTERNAL_ERROR), True)
            self.close()  # else the head may be out already: a cut connection is the only honest end
            return
        finally:
            self.task = None
        if close or self.closing:
            self.close()
            return
        if not self.reading and self.transport is not None:
            self.reading = True
            self.transport.resume_reading()
        if self.unread:
            self._next()
        else:
            self._idle()

    def _head(self, status: int, headers: dict[str, str], length: int | None, close: bool) -> bytes:
        return response_head(status, headers, length=length, close=close, date=self.lane.date())

    def _write_whole(self, answer: WholeAnswer, close: bool) -> None:
        try:
            head = self._head(answer.status, answer.headers, len(answer.body), close)
        except ValueError as exc:
            log.warning("client API: %s", exc)
            answer = error_answer(BAD_HEADERS)
            head = self._head(answer.status, answer.headers, len(answer.body), close)
        self._write(head + answer.body)

    async def _write_stream(self, events: EventStream, close: bool) -> None:
        """Write ``events`` as they come (a head that cannot be written: a 502, the stream closed).

        A write (a system call) is most of what relaying costs, so what comes within one loop turn goes
        out in one: the head with the first events, and the usage event and ``[DONE]`` with the end of
        the body, when the network's answer brought them together (a burst always does). Nothing waits
        longer than the turn it came in."""
        async with contextlib.aclosing(events):
            try:
                head = self._head(200, events.headers, None, close)
            except ValueError as exc:
                log.warning("client API: %s", exc)
                self._write_whole(error_answer(BAD_HEADERS), close)
                return
            pending = _Pending(self, head)
            try:
                async for data in events:
                    if data:
                        pending.add(chunk(data))
                        if not self.writing:
                            pending.flush()
                            await self._drain()
            finally:
                pending.cancel()
            pending.add(LAST_CHUNK)
            pending.flush()

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the caller closed the connection")
        transport.write(data)

    async def _drain(self) -> None:
        """Wait until the caller reads again (the transport's buffer passed its high-water mark)."""
        while not self.writing:
            if self.transport is None or self.transport.is_closing():
                raise ConnectionResetError("the caller closed the connection")
            self.drained = self.loop.create_future()
            await self.drained

    def _wake_writer(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _idle(self) -> None:
        """The connection waits for a request: close it if none comes within `KEEPALIVE_S`."""
        self.idle_since = self.loop.time()
        if self.idle_timer is None:
            self.idle_timer = self.loop.call_at(self.idle_since + KEEPALIVE_S, self._idle_check)

    def _idle_check(self) -> None:
        # One timer per connection, moved on lazily: a request does not cost a timer of its own.
        self.idle_timer = None
        if self.task is not None or self.transport is None:
            return
        due = self.idle_since + KEEPALIVE_S
        if self.loop.time() >= due:  # nothing came for that long, not even the rest of a request
            self.close()
        else:
            self.idle_timer = self.loop.call_at(due, self._idle_check)


class _Pending:
    """A stream's bytes written within this loop turn, sent together at its end (or by `flush`)."""

    __slots__ = ("conn", "parts", "timer")

    def __init__(self, conn: _LaneConnection, head: bytes) -> None:
        self.conn = conn
        self.parts = [head]
        self.timer: asyncio.Handle | None = conn.loop.call_soon(self._due)

    def add(self, data: bytes) -> None:
        self.parts.append(data)
        if self.timer is None:
            self.timer = self.conn.loop.call_soon(self._due)

    def flush(self) -> None:
        """Write what is pending now (raises `ConnectionResetError` when the caller is gone)."""
        self.cancel()
        if self.parts:
            data = b"".join(self.parts)
            self.parts.clear()
            self.conn._write(data)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _due(self) -> None:
        self.timer = None
        transport = self.conn.transport
        if transport is None or transport.is_closing():
            self.parts.clear()  # the caller left: the stream's reader hears of it (connection_lost)
            return
        self.flush()
