"""What our own code may send on an `RpcEndpoint`: control queries, answer streams, state messages.

Every call checks the session is open (`ConnectionClosedError` after it ended, `LocalProtocolError`
before the hello exchange finished) and, for queries and answer streams, the per-id rules of the
`Multiplexer` (answering an unknown query or sending a chunk before the head raises
`LocalProtocolError`).
A message that passes is encoded at once into the endpoint's outgoing buffer.

`EndpointSender` is the sending half of `RpcEndpoint` (`cocoon.wire.endpoint`), which supplies the
session state: the multiplexer, the open check and the outgoing buffer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.control import ControlBody
from cocoon.wire.messages import (
    NO_TIMINGS,
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    AnswerPart,
    Cancel,
    DebugTimings,
    Message,
    PaymentUpdate,
    Query,
    QueryAnswer,
    QueryError,
    RunQuery,
    Timings,
    WorkerState,
)
from cocoon.wire.mux import Multiplexer


class EndpointSender(ABC):
    """The sending API of one connection's endpoint (see the module docstring)."""

    _mux: Multiplexer

    @abstractmethod
    def _check_open(self) -> None:
        """Raise unless the hello exchange finished and the session has not ended."""

    @abstractmethod
    def _queue(self, message: Message) -> None:
        """Encode ``message`` into the outgoing buffer (no checks)."""

    # --- control queries --------------------------------------------------------------------------

    def send_query(self, body: ControlBody) -> int:
        """Queue a control query; returns its id (answers and errors carry it)."""
        self._check_open()
        query_id = self._mux.query_sent()
        self._queue(Query(query_id, body))
        return query_id

    def send_answer(self, query_id: int, body: ControlBody) -> None:
        """Answer the peer's query `query_id`."""
        self._check_open()
        self._mux.answering(query_id)
        self._queue(QueryAnswer(query_id, body))

    def send_query_error(self, query_id: int, code: str, message: str) -> None:
        """Fail the peer's query `query_id` with a machine-readable `code` and a human `message`."""
        self._check_open()
        self._mux.answering(query_id)
        self._queue(QueryError(query_id, code, message))

    # --- inference stream -------------------------------------------------------------------------

    def send_run_query(self, request: RunQuery) -> None:
        """Start an inference request; its answer parts arrive as events."""
        self._check_open()
        self._mux.request_sent(request.request_id)
        self._queue(request)

    def send_head(
        self,
        request_id: int,
        status: int,
        headers: tuple[tuple[str, str], ...] = (),
        *,
        e2e_nonce: bytes = b"",
    ) -> bool:
        """Queue the head of our answer; False if the requester cancelled (nothing sent)."""
        return self.send_part(AnswerHead(request_id, status, headers, e2e_nonce))

    def send_chunk(self, request_id: int, data: bytes) -> bool:
        """Queue a piece of our answer body; False if the requester cancelled (nothing sent)."""
        return self.send_part(AnswerChunk(request_id, data))

    def send_end(
        self,
        request_id: int,
        usage: Usage = NO_USAGE,
        timings: Timings = NO_TIMINGS,
        adjusted_tokens: int = 0,
        cost: int = 0,
        receipt: bytes | None = None,
        prompt_cost: int = 0,
        debug: DebugTimings | None = None,
    ) -> bool:
        """Finish our answer successfully (allowed after a cancel, to report usage); ``debug``: the
        hops' timings of a request that asked for them."""
        end = AnswerEnd(request_id, usage, timings, adjusted_tokens, cost, receipt, prompt_cost, debug)
        return self.send_part(end)

    def send_answer_error(
        self,
        request_id: int,
        status: int,
        code: str,
        message: str,
        usage: Usage | None = None,
        param: str | None = None,
        receipt: bytes | None = None,
    ) -> bool:
        """Finish our answer with an error (allowed after a cancel, to report usage and a partial receipt)."""
        return self.send_part(AnswerError(request_id, status, code, message, usage, param, receipt))

    def send_part(self, part: AnswerPart) -> bool:
        """Queue any answer part, checked against the stream rules; False if dropped after a cancel."""
        self._check_open()
        deliver = self._mux.part_sending(part)
        if deliver:
            self._queue(part)
        return deliver

    def cancel(self, request_id: int, reason: str) -> bool:
        """Cancel our request `request_id`; False if it already finished or was cancelled."""
        self._check_open()
        if not self._mux.requested.cancel(request_id):
            return False
        self._queue(Cancel(request_id, reason))
        return True

    # --- state ------------------------------------------------------------------------------------

    def send_payment_update(self, update: PaymentUpdate) -> None:
        """Queue a payment-channel update for the peer."""
        self._send(update)

    def send_worker_state(self, state: WorkerState) -> None:
        """Queue the worker's current offer for the peer (a proxy)."""
        self._send(state)

    def _send(self, message: Message) -> None:
        self._check_open()
        self._queue(message)
