"""Our wire protocol, sans-IO: frames, messages and the RPC endpoint state machine (pure core).

Modules, bottom up: `frames` (length prefix), `messages` and `control` (the Structs), `codec` (the
only module that knows msgpack), `session` (hello exchange, `EndpointConfig`), `keepalive`,
`streams` (per-request answer rules as a transition table), `mux` (which query and request ids are
live), `events`, `endpoint_send` (what our code may send) and `endpoint` (`RpcEndpoint`, tying
them together).
The names most callers need are re-exported here.
"""

from cocoon.wire.control import ControlBody, GetPaymentStatus, GetWorkerTypes, PaymentStatus, WorkerTypes
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.events import ConnectionTerminated, Event, HandshakeCompleted, PongReceived
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    AnswerPart,
    Cancel,
    CloseCode,
    Message,
    PaymentUpdate,
    Role,
    RunQuery,
    Timings,
    WorkerState,
)
from cocoon.wire.session import PROTOCOL_VERSION, EndpointConfig

__all__ = [
    "PROTOCOL_VERSION",
    "AnswerChunk",
    "AnswerEnd",
    "AnswerError",
    "AnswerHead",
    "AnswerPart",
    "Cancel",
    "CloseCode",
    "ConnectionTerminated",
    "ControlBody",
    "EndpointConfig",
    "Event",
    "GetPaymentStatus",
    "GetWorkerTypes",
    "HandshakeCompleted",
    "Message",
    "PaymentStatus",
    "PaymentUpdate",
    "PongReceived",
    "Role",
    "RpcEndpoint",
    "RunQuery",
    "Timings",
    "WorkerState",
    "WorkerTypes",
]
