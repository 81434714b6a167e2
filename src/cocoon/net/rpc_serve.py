"""The serving side of an `RpcConnection`: runs our handlers for what the peer asks of us.

Each control query and each inference request gets its own task, so a slow handler never blocks
the connection's reader. Handler outcomes are turned into wire answers here: a returned body, a
`RemoteQueryError` with its code, a crash ("internal"), a stream left unfinished, a peer's cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cocoon.errors import CocoonError, ConnectionClosedError, RemoteQueryError
from cocoon.net.rpc_stream import Responder
from cocoon.wire.control import ControlBody
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.messages import Cancel, PaymentUpdate, Query, RunQuery, WorkerState

log = logging.getLogger(__name__)

QueryHandler = Callable[[ControlBody], Awaitable[ControlBody]]
RunQueryHandler = Callable[[RunQuery, Responder], Awaitable[None]]
_S = TypeVar("_S", PaymentUpdate, WorkerState)


@dataclass(frozen=True, slots=True)
class Handlers:
    """Callbacks for what the peer sends us. Unset handlers answer "unsupported" or drop the message.

    `on_query` returns the answer body or raises `RemoteQueryError(message, code)` (any other
    `CocoonError` is sent as code "error", anything else as "internal"). `on_run_query` streams its
    answer through the `Responder`; when the peer cancels, its task is cancelled (it may catch
    `CancelledError` to send a final `end`/`error` with the usage so far); if it returns without
    finishing, an `AnswerError` is sent for it. `on_payment` and `on_worker_state` are plain
    functions called on the connection's reader task: keep them quick.
    """

    on_query: QueryHandler | None = None
    on_run_query: RunQueryHandler | None = None
    on_payment: Callable[[PaymentUpdate], None] | None = None
    on_worker_state: Callable[[WorkerState], None] | None = None


class Serving:
    """Runs `Handlers` for one connection and tracks the requests being served."""

    def __init__(
        self,
        handlers: Handlers,
        endpoint: RpcEndpoint,
        flush: Callable[[], None],
        drain: Callable[[], Awaitable[None]],
        spawn: Callable[[Awaitable[None]], asyncio.Task[None]],
    ) -> None:
        self._handlers = handlers
        self._endpoint = endpoint
        self._flush = flush
        self._drain = drain
        self._spawn = spawn
        self._running: dict[int, tuple[Responder, asyncio.Task[None]]] = {}

    def __len__(self) -> int:
        """Inference requests currently being served."""
        return len(self._running)

    # --- control queries ----------------------------------------------------------------------------

    def query(self, query: Query) -> None:
        """Answer the peer's control query in a task of its own."""
        self._spawn(self._answer(query))

    async def _answer(self, query: Query) -> None:
        handler = self._handlers.on_query
        try:
            if handler is None:
                raise RemoteQueryError("this node answers no control queries", "unsupported")
            body = await handler(query.body)
        except RemoteQueryError as exc:
            self._reply_error(query.query_id, exc.code, str(exc))
        except CocoonError as exc:
            self._reply_error(query.query_id, "error", str(exc))
        except Exception:
            log.exception("control query handler failed on %s", type(query.body).__name__)
            self._reply_error(query.query_id, "internal", "the peer failed to handle the query; see its log")
        else:
            with contextlib.suppress(ConnectionClosedError):
                self._endpoint.send_answer(query.query_id, body)
        self._flush()

    def _reply_error(self, query_id: int, code: str, message: str) -> None:
        with contextlib.suppress(ConnectionClosedError):
            self._endpoint.send_query_error(query_id, code, message)

    # --- inference requests -------------------------------------------------------------------------

    def run_query(self, request: RunQuery) -> None:
        """Serve the peer's inference request with `on_run_query` in a task of its own."""
        responder = Responder(request, self._endpoint, self._flush, self._drain)
        handler = self._handlers.on_run_query
        if handler is None:
            responder.send_error_now(501, "unsupported", "this node does not serve inference requests")
            return
        task = self._spawn(self._serve(handler, responder))
        self._running[request.request_id] = (responder, task)
        # A done callback, not a finally: it also runs when the task is cancelled before it started
        # (a Cancel that arrived in the same read as its RunQuery).
        task.add_done_callback(lambda _: self._finish(responder))

    async def _serve(self, handler: RunQueryHandler, responder: Responder) -> None:
        try:
            await handler(responder.request, responder)
        except ConnectionClosedError as exc:
            log.info("request %d: connection lost while answering: %s", responder.request.request_id, exc)
        except Exception:
            log.exception("inference handler failed on request %d", responder.request.request_id)
            responder.send_error_now(500, "internal", "the serving node failed; see its log")
        # CancelledError propagates: we cancelled the task ourselves and _finish reports it.

    def _finish(self, responder: Responder) -> None:
        self._running.pop(responder.request.request_id, None)
        if responder.cancelled.is_set():
            responder.send_error_now(499, "cancelled", responder.cancel_reason)
        else:
            responder.send_error_now(500, "unfinished", "the serving node ended the answer without a result")

    def cancel(self, cancel: Cancel) -> None:
        """The peer cancelled a request: tell its responder and cancel its handler task."""
        entry = self._running.get(cancel.request_id)
        if entry is not None:
            entry[0].mark_cancelled(cancel.reason)
            entry[1].cancel()

    def stop(self, reason: str) -> None:
        """The connection ended: cancel every handler still serving."""
        for responder, task in self._running.values():
            responder.mark_cancelled(reason)
            task.cancel()

    # --- one-way state messages ---------------------------------------------------------------------

    def payment(self, update: PaymentUpdate) -> None:
        """Pass a payment update to `on_payment`."""
        self._call(self._handlers.on_payment, update)

    def worker_state(self, state: WorkerState) -> None:
        """Pass a worker-state change to `on_worker_state`."""
        self._call(self._handlers.on_worker_state, state)

    @staticmethod
    def _call(callback: Callable[[_S], None] | None, arg: _S) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception:  # a buggy callback must not take the shared connection down
            log.exception("rpc callback %r failed", callback)
