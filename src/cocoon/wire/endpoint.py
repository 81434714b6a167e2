"""`RpcEndpoint`: the sans-IO state machine of one connection (no sockets, no asyncio, no clock).

Feed it the bytes you read with `receive_data(data, now)` and act on the events it returns; call its
``send_*`` methods to queue messages and write `data_to_send()` to the transport; call
`handle_timer(now)` at `next_deadline()`. Bad input never raises: any protocol violation queues a
`Close` with the reason for the peer and returns `ConnectionTerminated(local=True)`. Misuse of the
sending API by our own code (answering an unknown query, a chunk before the head) raises
`LocalProtocolError`; sending on a closed endpoint raises `ConnectionClosedError`.

The ``send_*`` methods and `cancel` are inherited from `EndpointSender` (`cocoon.wire.endpoint_send`);
this module is the session: bytes in, events out, the hello exchange, keepalive and termination.
"""

from __future__ import annotations

from cocoon.errors import (
    ConnectionClosedError,
    DecodeError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from cocoon.wire.codec import decode_message, encode_message_into
from cocoon.wire.endpoint_send import EndpointSender
from cocoon.wire.events import ConnectionTerminated, Event, PongReceived
from cocoon.wire.frames import FrameDecoder
from cocoon.wire.keepalive import Keepalive
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    AnswerPart,
    Cancel,
    Close,
    CloseCode,
    Hello,
    HelloAck,
    Message,
    PaymentUpdate,
    Ping,
    Pong,
    Query,
    QueryAnswer,
    QueryError,
    RunQuery,
    WorkerState,
)
from cocoon.wire.mux import Multiplexer
from cocoon.wire.session import EndpointConfig, Handshake, HandshakeRefused


class RpcEndpoint(EndpointSender):
    """One side of one connection. `initiator` is the side that connected; it speaks first."""

    def __init__(self, config: EndpointConfig, *, initiator: bool, now: float) -> None:
        self.config = config
        self._frames = FrameDecoder(config.max_frame)
        self._out = bytearray()
        self._keepalive = Keepalive(config.ping_interval, config.silence_timeout, now)
        self._handshake = Handshake(config, initiator)
        self._terminated: ConnectionTerminated | None = None
        self._next_ping_id = 1
        self._pings: dict[int, float] = {}
        self._mux = Multiplexer(config.max_cancelled)
        if initiator:
            self._queue(self._handshake.hello())

    # --- state ------------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True once the handshake completed and until the session ends."""
        return self._handshake.done and self._terminated is None

    @property
    def terminated(self) -> ConnectionTerminated | None:
        """How the session ended, or None while it lives."""
        return self._terminated

    @property
    def version(self) -> int | None:
        """The negotiated protocol version (None before the handshake)."""
        return self._handshake.version

    def active_requests(self) -> list[int]:
        """Ids of our `RunQuery` requests whose answers have not finished."""
        return self._mux.requested.active_ids()

    def serving_requests(self) -> list[int]:
        """Ids of the peer's `RunQuery` requests we have not finished answering."""
        return self._mux.serving.active_ids()

    # --- input --------------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Process bytes read from the transport; returns the events they complete."""
        if self._terminated is not None:
            return []
        if data:
            self._keepalive.received(now)
        try:
            payloads = self._frames.feed(data)
        except DecodeError as exc:
            return [self._fail(str(exc))]
        events: list[Event] = []
        for payload in payloads:
            try:
                event = self._handle(decode_message(payload), now)
            except ProtocolError as exc:  # the peer's violation (or, failing to encode a reply, ours)
                events.append(self._fail(str(exc)))
                break
            if event is not None:
                events.append(event)
            if self._terminated is not None:
                break
        return events

    def receive_eof(self) -> list[Event]:
        """The transport ended; returns `ConnectionTerminated` unless the session already ended."""
        if self._terminated is not None:
            return []
        reason = "the peer closed the connection without a Close message; it crashed or was killed"
        return [self._end(ConnectionTerminated(reason, local=False, code=CloseCode.ABNORMAL))]

    def handle_timer(self, now: float) -> list[Event]:
        """Send a keepalive ping or end a silent session, as due at `now`."""
        if self._terminated is not None:
            return []
        if self._keepalive.expired(now):
            waited = now - self._keepalive.last_received
            what = "data" if self._handshake.done else "hello"
            reason = f"no {what} from the peer for {waited:.1f} s; it is down or the network is broken"
            return [self._fail(reason, CloseCode.KEEPALIVE_TIMEOUT)]
        if self._handshake.done and self._keepalive.ping_due(now):
            self.ping(now)
        return []

    def next_deadline(self) -> float | None:
        """When `handle_timer` must next be called (None once the session ended)."""
        if self._terminated is not None:
            return None
        return self._keepalive.next_deadline(pinging=self._handshake.done)

    @property
    def pending_bytes(self) -> int:
        """How many bytes are queued for the transport."""
        return len(self._out)

    def data_to_send(self) -> bytes:
        """Return (and forget) everything queued for the transport."""
        data = bytes(self._out)
        self._out.clear()
        return data

    # --- output: session ------------------------------------------------------------------------

    def ping(self, now: float) -> int:
        """Queue a `Ping`; the `PongReceived` event will carry its round-trip time."""
        ping_id = self._next_ping_id
        self._next_ping_id += 1
        self._send(Ping(ping_id))
        self._keepalive.pinged(now)
        self._pings = {k: v for k, v in self._pings.items() if k > ping_id - 8}  # keep a few only
        self._pings[ping_id] = now
        return ping_id

    def close(self, reason: str, code: CloseCode = CloseCode.NORMAL) -> list[Event]:
        """Queue a `Close` and end the session; returns its `ConnectionTerminated` (or nothing)."""
        if self._terminated is not None:
            return []
        return [self._fail(reason, code)]

    # --- internals ------------------------------------------------------------------------------------

    def _queue(self, message: Message) -> None:
        encode_message_into(message, self._out, self.config.max_frame)

    def _check_open(self) -> None:
        if self._terminated is not None:
            raise ConnectionClosedError(f"connection closed: {self._terminated.reason}")
        if not self._handshake.done:
            raise LocalProtocolError("the hello exchange has not finished; wait for HandshakeCompleted")

    def _fail(self, reason: str, code: CloseCode = CloseCode.PROTOCOL_ERROR) -> ConnectionTerminated:
        self._queue(Close(code, reason))
        return self._end(ConnectionTerminated(reason, local=True, code=code))

    def _end(self, event: ConnectionTerminated) -> ConnectionTerminated:
        self._terminated = event
        return event

    # --- handlers: return the event to report (or None) or raise RemoteProtocolError ----------------

    def _handle(self, message: Message, now: float) -> Event | None:
        # Ordered by frequency: stream parts are the hot path.
        match message:
            case AnswerChunk() | AnswerHead() | AnswerEnd() | AnswerError():
                return self._on_part(message)
            case Close():
                return self._end(ConnectionTerminated(message.reason, local=False, code=message.code))
            case Hello() | HelloAck():
                return self._on_hello(message)
        if not self._handshake.done:
            raise RemoteProtocolError(f"{type(message).__name__} received before the hello exchange finished")
        match message:
            case RunQuery():
                self._mux.request_received(message.request_id)
                return message
            case Cancel():
                # A cancel for a request we already finished crossed our end on the wire: ignore it.
                return message if self._mux.serving.cancel(message.request_id) else None
            case Query():
                self._mux.query_received(message.query_id)
                return message
            case QueryAnswer() | QueryError():
                self._mux.answer_received(type(message).__name__, message.query_id)
                return message
            case Ping():
                self._queue(Pong(message.ping_id))
                return None
            case Pong():
                sent = self._pings.pop(message.ping_id, None)
                # An unknown pong id is harmless (an old ping we stopped tracking): ignore it.
                return None if sent is None else PongReceived(message.ping_id, now - sent)
            case PaymentUpdate() | WorkerState():
                return message
        raise RemoteProtocolError(f"{type(message).__name__} is not handled by this protocol version")

    def _on_hello(self, message: Hello | HelloAck) -> Event:
        outcome, reply = self._handshake.receive(message)
        if isinstance(outcome, HandshakeRefused):
            return self._fail(outcome.reason, outcome.code)
        if reply is not None:
            self._queue(reply)
        return outcome

    def _on_part(self, message: AnswerPart) -> Event | None:
        if not self._handshake.done:
            raise RemoteProtocolError(f"{type(message).__name__} received before the hello exchange finished")
        return message if self._mux.part_received(message) else None
