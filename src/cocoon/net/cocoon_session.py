"""`CocoonConnection`: COCOON's ``tcp.*`` envelope (queries, packets, keepalive) over a byte stream.

After the PoW and TLS steps (`cocoon.net.cocoon_conn`), both sides exchange length-prefixed frames
with per-direction seqnos (`cocoon.tl.frames`), each carrying one boxed ``tcp.*`` object:
``tcp.query{id,data}`` answered by ``tcp.queryAnswer{id,data}`` or ``tcp.queryError{id,code,message}``,
one-way ``tcp.packet{data}``, and ``tcp.ping``/``tcp.pong``. The payloads are boxed TL objects.

Reference rules kept here: only the outbound (connecting) side pings, every 10 s; a connection whose
peer sent nothing for 20 s (outbound) or 60 s (inbound) is closed. Any protocol violation (bad frame,
wrong seqno, undecodable or unexpected object) closes the connection with a logged reason; pending
queries then fail with `ConnectionClosedError`. Handlers never raise into the connection: a query
handler's exception becomes a ``tcp.queryError`` (and is logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable, Coroutine

from cocoon.attestation.peer import AttestedPeer
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import (
    CocoonError,
    ConnectionClosedError,
    ProtocolError,
    RemoteProtocolError,
    RpcTimeoutError,
)
from cocoon.net.cocoon_common import (
    DEFAULT_QUERY_TIMEOUT,
    ERROR_FAILURE,
    ERROR_NOT_READY,
    INBOUND_IDLE_TIMEOUT,
    OUTBOUND_IDLE_TIMEOUT,
    OUTBOUND_PING_INTERVAL,
    CocoonQueryError,
    HandshakeInfo,
    PacketHandler,
    QueryHandler,
)
from cocoon.net.stream import ByteStream
from cocoon.tl.base import TLObject
from cocoon.tl.codec import decode, encode
from cocoon.tl.frames import FrameDecoder, FrameEncoder
from cocoon.tl.types import TcpPacket, TcpPing, TcpPong, TcpQuery, TcpQueryAnswer, TcpQueryError

__all__ = ["CocoonConnection", "CocoonQueryError", "HandshakeInfo", "PacketHandler", "QueryHandler"]

log = logging.getLogger(__name__)


class CocoonConnection:
    """One established COCOON connection (see the module docstring); make it with `connect_cocoon`
    or `accept_cocoon` (`cocoon.net.cocoon_conn`), which run the handshake and `start` it."""

    def __init__(
        self,
        stream: ByteStream,
        peer: AttestedPeer | None,
        *,
        outbound: bool,
        clock: Clock = SYSTEM_CLOCK,
        ping_interval: float | None = None,
        idle_timeout: float | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        name: str = "cocoon",
    ) -> None:
        """`ping_interval` defaults to 10 s outbound and no pings inbound; `idle_timeout` to 20 s
        outbound and 60 s inbound (the reference's values)."""
        self._stream = stream
        self.peer = peer
        """The peer as the TLS policy accepted it (its certificate key, attestation if any)."""
        self.outbound = outbound
        self.name = name
        self.connect_id: int | None = None
        """The id of the ``tcp.connect`` that opened the connection."""
        self.handshake: HandshakeInfo | None = None
        """PoW difficulty and handshake times (set by the function that opened the connection)."""
        self._clock = clock
        self.ping_interval = (
            (OUTBOUND_PING_INTERVAL if outbound else None) if ping_interval is None else ping_interval
        )
        self.idle_timeout = idle_timeout or (OUTBOUND_IDLE_TIMEOUT if outbound else INBOUND_IDLE_TIMEOUT)
        self._random_bytes = random_bytes
        self._encoder = FrameEncoder()
        self._decoder = FrameDecoder()
        self._inbox: deque[bytes] = deque()
        self._pending: dict[int, asyncio.Future[TLObject]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_query: QueryHandler | None = None
        self._on_packet: PacketHandler | None = None
        self._last_received = clock.monotonic()
        self._last_ping = clock.monotonic()
        self._close_task: asyncio.Task[None] | None = None
        self._done = asyncio.get_running_loop().create_future()
        self.close_reason: str | None = None
        """Why the connection closed (None while it is open)."""

    async def __aenter__(self) -> CocoonConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose("closed locally" if exc_info[0] is None else f"local failure: {exc_info[1]!r}")

    # --- state ------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once closing started (locally, by the peer, a timeout or a protocol violation)."""
        return self.close_reason is not None

    async def wait_closed(self) -> str:
        """Wait until the connection is closed and its tasks stopped; return why it closed."""
        return await asyncio.shield(self._done)

    def set_handlers(
        self, on_query: QueryHandler | None = None, on_packet: PacketHandler | None = None
    ) -> None:
        """Set what serves the peer's queries and packets (None: queries answer error 651, packets are
        logged and dropped). A packet handler is awaited before the next message is read: keep it short."""
        self._on_query = on_query
        self._on_packet = on_packet

    # --- sending ------------------------------------------------------------------------------------

    # The timeout is part of the call, as in `RpcConnection.query`.
    async def query(self, obj: TLObject, timeout: float = DEFAULT_QUERY_TIMEOUT) -> TLObject:  # noqa: ASYNC109
        """Send `obj` as a ``tcp.query`` and return the decoded answer.

        Raises `CocoonQueryError` (a `RemoteQueryError`) when the peer answers ``tcp.queryError``,
        `RpcTimeoutError` after `timeout` seconds, `ConnectionClosedError` if the connection closes.
        """
        query_id = self._new_id()
        while query_id in self._pending:
            query_id = self._new_id()
        future: asyncio.Future[TLObject] = asyncio.get_running_loop().create_future()
        self._pending[query_id] = future
        try:
            async with asyncio.timeout(timeout):
                await self.send(TcpQuery(id=query_id, data=encode(obj)))
                return await future
        except TimeoutError:
            raise RpcTimeoutError(
                f"{self.name}: no answer to {type(obj).__name__} within {timeout:g} s; the peer may be "
                "overloaded, retry later"
            ) from None
        finally:
            self._pending.pop(query_id, None)

    async def send_packet(self, obj: TLObject) -> None:
        """Send `obj` as a one-way ``tcp.packet`` (waits for the socket's back-pressure)."""
        await self.send(TcpPacket(data=encode(obj)))

    async def send(self, obj: TLObject) -> None:
        """Frame and send one ``tcp.*`` object; raises `ConnectionClosedError` once closed."""
        if self.close_reason is not None:
            raise ConnectionClosedError(f"{self.name}: connection closed: {self.close_reason}")
        # Encoding and writing happen without a suspension point between them, so frames (and their
        # seqnos) reach the socket in the order they were numbered.
        self._stream.write(self._encoder.encode(encode(obj)))
        await self._stream.drain()

    # --- closing ------------------------------------------------------------------------------------

    async def aclose(self, reason: str = "closed locally") -> None:
        """Close the connection (idempotent): pending queries fail, handlers are cancelled."""
        self._begin_close(reason, level=logging.DEBUG)
        if self._close_task is not None:
            await asyncio.shield(self._close_task)

    def _begin_close(self, reason: str, *, level: int = logging.INFO) -> None:
        if self._close_task is not None:
            return
        self.close_reason = reason
        log.log(level, "%s connection closed: %s", self.name, reason)
        error = ConnectionClosedError(f"{self.name}: connection closed: {reason}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._close_task = asyncio.get_running_loop().create_task(self._shutdown())

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(CocoonError, OSError):
            await self._stream.aclose()
        if not self._done.done():
            self._done.set_result(self.close_reason or "closed")

    # --- receiving ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading and the keepalive (called by the handshake functions when it is done)."""
        self._spawn(self._read_loop())
        self._spawn(self._keepalive())

    async def receive(self) -> TLObject:
        """The next ``tcp.*`` object from the stream (the handshake reads this way, before `start`).

        Raises `ConnectionClosedError` at end of stream and `DecodeError` on a bad frame.
        """
        while not self._inbox:
            data = await self._stream.read()
            if not data:
                reason = getattr(self._stream, "close_reason", None) or "peer closed the connection"
                raise ConnectionClosedError(f"{self.name}: {reason}")
            self._last_received = self._clock.monotonic()
            self._inbox.extend(self._decoder.feed(data))
        return decode(self._inbox.popleft())

    async def _read_loop(self) -> None:
        try:
            while True:
                await self._dispatch(await self.receive())
        except ConnectionClosedError as exc:
            self._begin_close(str(exc).removeprefix(f"{self.name}: "))
        except ProtocolError as exc:
            self._begin_close(f"protocol violation by the peer: {exc}", level=logging.WARNING)

    async def _dispatch(self, obj: TLObject) -> None:
        match obj:
            case TcpPing():
                await self.send(TcpPong(id=obj.id))
            case TcpPong():
                pass  # any frame counts as life; the id needs no check
            case TcpQueryAnswer():
                self._answered(obj.id, obj)
            case TcpQueryError():
                self._answered(obj.id, obj)
            case TcpQuery():
                self._spawn(self._serve(obj.id, decode(obj.data)))
            case TcpPacket():
                await self._deliver(decode(obj.data))
            case _:
                raise RemoteProtocolError(f"unexpected {type(obj).__name__} on an established connection")

    def _answered(self, query_id: int, answer: TcpQueryAnswer | TcpQueryError) -> None:
        future = self._pending.get(query_id)
        if future is None or future.done():
            log.debug("%s: answer to query %d that is no longer waiting (timed out?)", self.name, query_id)
            return
        if isinstance(answer, TcpQueryError):
            future.set_exception(CocoonQueryError(answer.code, answer.message))
        else:
            future.set_result(decode(answer.data))

    async def _serve(self, query_id: int, obj: TLObject) -> None:
        handler = self._on_query
        try:
            if handler is None:
                raise CocoonQueryError(ERROR_NOT_READY, f"no handler for queries here ({type(obj).__name__})")
            reply: TcpQueryAnswer | TcpQueryError = TcpQueryAnswer(
                id=query_id, data=encode(await handler(obj))
            )
        except CocoonQueryError as exc:
            reply = TcpQueryError(id=query_id, code=exc.error_code, message=exc.error_message)
        except CocoonError as exc:
            log.warning("%s: query %s failed: %s", self.name, type(obj).__name__, exc)
            reply = TcpQueryError(id=query_id, code=ERROR_FAILURE, message=str(exc))
        except Exception:
            log.exception("%s: query handler failed on %s", self.name, type(obj).__name__)
            reply = TcpQueryError(id=query_id, code=ERROR_FAILURE, message="internal error")
        try:
            await self.send(reply)
        except ConnectionClosedError:
            log.debug("%s: connection closed before answering query %d", self.name, query_id)

    async def _deliver(self, obj: TLObject) -> None:
        handler = self._on_packet
        if handler is None:
            log.warning("%s: dropped packet %s: no packet handler set", self.name, type(obj).__name__)
            return
        try:
            await handler(obj)
        except Exception:
            log.exception("%s: packet handler failed on %s", self.name, type(obj).__name__)

    async def _keepalive(self) -> None:
        while self.close_reason is None:
            now = self._clock.monotonic()
            silent = now - self._last_received
            if silent >= self.idle_timeout:
                self._begin_close(f"peer silent for {silent:.1f} s (limit {self.idle_timeout:g} s)")
                return
            deadline = self._last_received + self.idle_timeout
            if self.ping_interval is not None:
                if now - self._last_ping >= self.ping_interval:
                    self._last_ping = now
                    try:
                        await self.send(TcpPing(id=self._new_id()))
                    except ConnectionClosedError:
                        return
                deadline = min(deadline, self._last_ping + self.ping_interval)
            await asyncio.sleep(max(deadline - self._clock.monotonic(), 0.001))

    # --- helpers ------------------------------------------------------------------------------------

    def _new_id(self) -> int:
        return int.from_bytes(self._random_bytes(8), "little", signed=True)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        if self._close_task is not None:  # closing: nothing new may start
            coro.close()
            return
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
