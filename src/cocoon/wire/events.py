"""What `RpcEndpoint.receive_data` and `handle_timer` report.

Data-carrying messages that passed the protocol checks are reported as the message Structs
themselves (`Query`, `RunQuery`, `AnswerChunk`, ...), as h11 does; session housekeeping
(hello, ping, close) becomes the three session events defined here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.wire.messages import CloseCode, ControlMessage, Role, StateMessage, StreamMessage


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """The hello exchange finished: the negotiated protocol version and who the peer says it is."""

    version: int
    role: Role
    node_id: str
    software: str


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The peer answered our ping; `rtt` is the round-trip time in seconds."""

    ping_id: int
    rtt: float


@dataclass(frozen=True, slots=True)
class ConnectionTerminated:
    """The session is over. `local` is True when we ended it (protocol error, timeout, `close`)."""

    reason: str
    local: bool
    code: CloseCode


SessionEvent = HandshakeCompleted | PongReceived | ConnectionTerminated
Event = SessionEvent | ControlMessage | StreamMessage | StateMessage
"""Everything an endpoint reports."""
