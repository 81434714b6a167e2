"""One request sent through one of our proxy connections, and its answer read to an end whatever happens.

`routing_of` gives a validated request its `Routing` (its request id, model, endpoint, token
budget), and `run_query_of` builds its `RunQuery` from it: its body in plaintext, or only the
envelope it was sealed in (end to end). `send_query` hands it to the connection. The answer is a
`NetworkAnswer`, read within the caller's timeout: a connection that dies mid-answer, or a timeout
that passes, becomes a final `AnswerError`, so the HTTP layer always ends what it started. A
connection that closed before the query could even be sent gives a `LostAnswer`
(`cocoon.client.failover`), which fails over like an answer lost mid-wait.

Plaintext and end-to-end sealed requests go out the same way: what they share lives here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cocoon.api.validation import ValidatedRequest, generates_tokens
from cocoon.client.backend import Privacy
from cocoon.client.failover import LostAnswer
from cocoon.e2e.envelope import Envelope, Routing
from cocoon.errors import ConnectionClosedError, RequestCancelledError
from cocoon.net.rpc import RpcAnswerStream, RpcConnection
from cocoon.payments.pricing import completion_budget
from cocoon.wire.messages import AnswerEnd, AnswerError, AnswerPart, RunQuery
from cocoon.wire.timeouts import inner_timeout_ms


class NetworkAnswer:
    """One answer read from a proxy, ended by an `AnswerEnd` or an `AnswerError` whatever happens."""

    def __init__(
        self, stream: RpcAnswerStream, timeout_s: float, proxy: str, privacy: Privacy = Privacy.PLAINTEXT
    ) -> None:
        self._stream = stream
        self._timeout_s = timeout_s
        self._proxy = proxy
        self.privacy = privacy
        self._expired = False

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        request_id = self._stream.request_id
        # One timer per answer cancels the request at its deadline, and the stream says so to its
        # reader: cheaper than asyncio.timeout, and it never cancels the task that reads this (which
        # may be writing to the app between two parts), nor an answer already whole in the buffer.
        deadline = asyncio.get_running_loop().call_later(self._timeout_s, self._expire)
        try:
            async for part in self._stream:
                yield part
                if isinstance(part, AnswerEnd | AnswerError):
                    return
        except (ConnectionClosedError, RequestCancelledError) as exc:
            if self._expired:
                message = f"no complete answer within {self._timeout_s:g} s"
                yield AnswerError(request_id, 504, "timeout", message)
            else:
                message = f"proxy {self._proxy} connection lost: {exc}"
                yield AnswerError(request_id, 502, "upstream_error", message)
        finally:
            deadline.cancel()

    def _expire(self) -> None:
        self._expired = True
        self._stream.cancel("deadline passed")

    async def cancel(self, reason: str) -> None:
        self._stream.cancel(reason)


async def send_query(
    address: str,
    conn: RpcConnection,
    query: RunQuery,
    timeout_s: float,
    privacy: Privacy = Privacy.PLAINTEXT,
) -> NetworkAnswer | LostAnswer:
    """Send ``query`` through ``conn`` (the connection to ``address``); its answer, read within
    ``timeout_s``, travelled as ``privacy`` says."""
    try:
        stream = await conn.run_query(query)
    except ConnectionClosedError as exc:
        return LostAnswer(query.request_id, address, str(exc))  # fails over like a lost answer
    return NetworkAnswer(stream, timeout_s, address, privacy)


def routing_of(request: ValidatedRequest, request_id: int) -> Routing:
    """The routing fields of ``request`` sent as ``request_id``, the same in plaintext and sealed."""
    # Every choice may generate max_tokens: the proxy reserves for all of them. An embeddings
    # request generates nothing: no completion budget, the proxy reserves for its size alone.
    budget = completion_budget(request.max_tokens, request.choices) if generates_tokens(request.path) else 0
    return Routing(
        f"{request_id:016x}",  # the X-Cocoon-Request-Id the receipt must name
        request.model,
        request.path,
        budget,
        request.choices,
        request.max_coefficient,
    )


def run_query_of(
    request: ValidatedRequest,
    request_id: int,
    routing: Routing,
    timeout_s: float,
    envelope: Envelope | None = None,
) -> RunQuery:
    """The RunQuery of ``request`` with ``routing``'s fields: the body in plaintext, or only the
    ``envelope`` it was sealed in (end to end, the body is sent nowhere else)."""
    return RunQuery(
        request_id=request_id,
        model=routing.model,
        body=b"" if envelope is not None else request.engine_body_bytes(),
        max_coefficient=routing.max_coefficient,
        max_tokens=routing.max_tokens,
        timeout_ms=inner_timeout_ms(timeout_s * 1000),
        path=routing.endpoint,
        debug=request.enable_debug,
        client_request_id=routing.client_request_id,
        e2e=envelope,
    )
