"""Every message of our wire protocol, as frozen msgspec Structs in one tagged union, `Message`.

Messages are encoded as msgpack arrays whose first element is the integer tag (see `cocoon.wire.codec`);
the tag ranges group the families: 1-9 session, 10-19 control queries, 20-29 the inference stream,
30-39 payments and worker state. Tags are part of the wire format: never reuse or renumber one.
New fields go at the end with a default so that older peers, which ignore extra trailing fields,
keep working. Money and tokens are always integers (nanoTON, tokens); durations are integer
microseconds or milliseconds as the field name says.
"""

from __future__ import annotations

import enum

import msgspec

from cocoon.e2e.envelope import Envelope, Routing
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.control import Certificate, ContextLength, ControlBody, Endpoints, NonNegative


class _Msg(msgspec.Struct, frozen=True, array_like=True):
    """Base of every top-level message (no fields of its own)."""


class Role(enum.StrEnum):
    """What a node is; sent in the hello exchange so each side knows whom it talks to."""

    CLIENT = "client"
    PROXY = "proxy"
    WORKER = "worker"


class CloseCode(enum.IntEnum):
    """Why a session ended (`Close.code`)."""

    NORMAL = 0
    PROTOCOL_ERROR = 1
    KEEPALIVE_TIMEOUT = 2
    VERSION_MISMATCH = 3
    GOING_AWAY = 4
    REFUSED = 5
    ABNORMAL = 6
    """Never sent: the transport ended without a `Close` frame."""


# --- session -------------------------------------------------------------------------------------


class Hello(_Msg, tag=1, frozen=True):
    """First message of the connecting side: the protocol versions it speaks and who it is."""

    min_version: NonNegative
    max_version: NonNegative
    role: Role
    node_id: str
    software: str


class HelloAck(_Msg, tag=2, frozen=True):
    """The accepting side's answer to `Hello`: the chosen version and who it is."""

    version: NonNegative
    role: Role
    node_id: str
    software: str


class Ping(_Msg, tag=3, frozen=True):
    """Keepalive probe; the peer answers with `Pong` carrying the same id."""

    ping_id: NonNegative


class Pong(_Msg, tag=4, frozen=True):
    """Answer to `Ping`."""

    ping_id: NonNegative


class Close(_Msg, tag=5, frozen=True):
    """Last message of a session; `reason` says what happened and what to do."""

    code: CloseCode
    reason: str


# --- control queries -----------------------------------------------------------------------------


class Query(_Msg, tag=10, frozen=True):
    """A control request; answered by `QueryAnswer` or `QueryError` with the same id."""

    query_id: NonNegative
    body: ControlBody


class QueryAnswer(_Msg, tag=11, frozen=True):
    """Successful answer to the `Query` with this id."""

    query_id: NonNegative
    body: ControlBody


class QueryError(_Msg, tag=12, frozen=True):
    """Failed answer to the `Query` with this id; `code` is a short machine-readable identifier."""

    query_id: NonNegative
    code: str
    message: str


# --- inference stream ----------------------------------------------------------------------------


class RunQuery(_Msg, tag=20, frozen=True):
    """Start one inference request; answered by a stream of `Answer*` messages with the same id.

    `body` is the OpenAI JSON request, `path` the OpenAI endpoint it was sent to. `max_coefficient` is
    the caller's price ceiling, `coefficient` the chosen worker's price (filled in by the proxy).
    `max_tokens` is the request's whole completion budget, at least 1: the body's per-choice
    ``max_tokens`` times the choices the engine generates (``n``, or ``best_of`` when larger;
    `cocoon.payments.pricing.completion_budget`). The proxy reserves for it; the worker caps each choice
    at ``max_tokens // choices`` of its own reading of the body (refusing it when that is 0), so a body
    asking for more than the budget paid for gets shorter choices, never unpaid tokens. A request that
    generates nothing (``/v1/embeddings``) has no completion budget: its `max_tokens` is 0 and the
    proxy reserves for its size alone. The proxy routes it only to workers that declared its `path`.
    `timeout_ms` is the budget of this hop; each hop forwards a smaller one.
    """

    request_id: NonNegative
    model: str
    body: bytes
    max_coefficient: NonNegative
    max_tokens: NonNegative
    timeout_ms: NonNegative
    coefficient: NonNegative | None = None
    path: str = "/v1/chat/completions"
    debug: bool = False
    client_request_id: str = ""
    """The client's request id (its ``X-Cocoon-Request-Id``), forwarded unchanged; receipts name it."""
    e2e: Envelope | None = None
    """An end-to-end encrypted request (spec/e2e.md): ``body`` is then empty and the OpenAI body is
    sealed in the envelope, to the workers whose key ids its header lists."""

    def routing(self, n: int) -> Routing:
        """The routing fields this query acts on, to compare with an envelope's header (``n`` is the
        header's own: a query does not carry it)."""
        return Routing(
            self.client_request_id, self.model, self.path, self.max_tokens, n, self.max_coefficient
        )


class AnswerHead(_Msg, tag=21, frozen=True):
    """First part of an answer: the HTTP status and headers of the engine's response."""

    request_id: NonNegative
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    e2e_nonce: bytes = b""
    """``rn`` of an end-to-end encrypted answer (its chunks are then frames); empty otherwise."""


class AnswerChunk(_Msg, tag=22, frozen=True):
    """A piece of the answer body (for streams, one or more SSE events), relayed as soon as it exists."""

    request_id: NonNegative
    data: bytes


class Timings(msgspec.Struct, frozen=True, array_like=True):
    """Durations of one request in microseconds, measured by the node that reports them."""

    queue_us: NonNegative = 0
    first_chunk_us: NonNegative = 0
    total_us: NonNegative = 0


NO_TIMINGS = Timings()
"""Timings with every duration zero (the default)."""


class HopTimings(msgspec.Struct, frozen=True, array_like=True):
    """Where one node's part of a debugged request (``enable_debug``) went, in microseconds of that
    node's monotonic clock since it received the request: when it passed it on (the worker: called its
    engine), when the first answer byte came back (the worker: the engine's first token) and when the
    answer was done. Durations only: clocks of different hosts are never compared."""

    sent_us: NonNegative = 0
    first_byte_us: NonNegative = 0
    done_us: NonNegative = 0


class DebugTimings(msgspec.Struct, frozen=True, array_like=True):
    """The hops' timings of a request sent with ``debug``: the worker's, then the proxy's added."""

    worker: HopTimings | None = None
    proxy: HopTimings | None = None


class AnswerEnd(_Msg, tag=23, frozen=True):
    """Successful end of an answer: usage, timings, what was charged and an optional signed receipt.

    `adjusted_tokens` are the tokens charged after the coefficient and multipliers, `cost` the
    nanoTON charged to the client (spec/economics.md); both are 0 until the proxy fills them in.
    """

    request_id: NonNegative
    usage: Usage = NO_USAGE
    timings: Timings = NO_TIMINGS
    adjusted_tokens: NonNegative = 0
    cost: NonNegative = 0
    receipt: bytes | None = None
    prompt_cost: NonNegative = 0
    """nanoTON of `cost` for prompt (incl. cached) tokens; the rest is for completion tokens."""
    debug: DebugTimings | None = None
    """Per-hop timings, only for a request sent with ``debug`` (never measured otherwise)."""


class AnswerError(_Msg, tag=24, frozen=True):
    """Failed end of an answer; `status` is the HTTP status to show, `usage` what was consumed so far.

    `code` is one of `cocoon.api.error_codes` (a proxy treats any other as an upstream failure);
    `param` names the request parameter at fault, when there is one.
    """

    request_id: NonNegative
    status: int
    code: str
    message: str
    usage: Usage | None = None
    param: str | None = None
    receipt: bytes | None = None
    """A signed partial receipt of an end-to-end answer that failed after its first frame."""


class Cancel(_Msg, tag=25, frozen=True):
    """The requester no longer wants the answer; the serving side aborts and may send one final end."""

    request_id: NonNegative
    reason: str


# --- payments and worker state -------------------------------------------------------------------


class PaymentUpdate(_Msg, tag=30, frozen=True):
    """The channel counters (tokens) for one counterpart, sent after each charge or commit."""

    counterpart: str
    tokens_max: NonNegative
    committed_to_db: NonNegative
    committed_to_chain: NonNegative
    signed_payment: bytes | None = None
    request_id: NonNegative | None = None
    request_tokens: NonNegative = 0


class WorkerState(_Msg, tag=31, frozen=True):
    """A worker's current offer: enabled or not, model, price coefficient, concurrency, context length
    and endpoints."""

    enabled: bool
    model: str
    coefficient: NonNegative
    max_active: NonNegative
    active: NonNegative
    owner: str = ""
    """The TON address that earns this worker's fees."""
    context_length: ContextLength = 0
    """Tokens of context the worker's engine stated for this model (0: the engine did not say)."""
    endpoints: Endpoints = ()
    """OpenAI paths (``/v1/chat/completions``...) the engine answered a probe for at start."""
    certificate: Certificate = b""
    """DER of the RA-TLS certificate the worker presents now (re-sent after each re-issue): its statement
    carries the current end-to-end key, which clients verify themselves."""


SessionMessage = Hello | HelloAck | Ping | Pong | Close
ControlMessage = Query | QueryAnswer | QueryError
AnswerPart = AnswerHead | AnswerChunk | AnswerEnd | AnswerError
StreamMessage = RunQuery | AnswerPart | Cancel
StateMessage = PaymentUpdate | WorkerState

Message = SessionMessage | ControlMessage | StreamMessage | StateMessage
"""Every top-level message; the codec decodes exactly this union."""
