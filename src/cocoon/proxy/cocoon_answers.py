"""One answer to a COCOON client, written by the router like any answer (`answer_writer.AnswerWriter`).

The router's head, chunks and end or error become the reference's packets for a ``client.runQueryEx``:

* head: ``client.queryAnswerEx{answer: boxed http.response(status, headers, empty payload)}``; its
  headers say ``Transfer-Encoding: chunked`` (``Content-Length`` dropped) because the body follows in
  parts, which is how clients such as the TypeScript SDK know the first packet is not the last;
* each chunk: ``client.queryAnswerPartEx{answer: the bytes as the worker sent them}`` (SSE events pass
  through unchanged);
* end: an empty ``client.queryAnswerPartEx`` with flag bit 0 and ``client.queryFinalInfo`` whose
  ``tokensUsed`` are the adjusted tokens charged in the ledger for this request;
* error: ``client.queryAnswerErrorEx{error_code, error}`` with final info (the tokens charged for
  what was delivered before the failure, as the router tells it: `answer_writer.ChargeAware`; else 0).
  ``error_code`` is the TON error code COCOON clients map to an HTTP status (`ton_error_code`: the
  request's fault 621 "protoviolation" -> 400, not ready 651 -> 502/503, timeout 652 -> 504, else 602
  "error"), ``error`` reads ``"<code> (HTTP <status>): <message>"`` with our machine-readable code
  (``model_not_found``, ``insufficient_funds``...) and status; a refused reservation starts
  ``client balance is too low``, as the reference proxy says it.

``tokensUsed`` splits the charged total the way it was priced: prompt-class tokens (prompt + cached)
are ``prompt_cost // price``, the rest completion-class (completion + reasoning); inside each class
the cached / reasoning share follows the engine's counts. The sum is exactly what was charged.
"""

from __future__ import annotations

import http
from collections.abc import Awaitable, Callable

from cocoon.proxy.accounts import RequestCost
from cocoon.tl.base import TLObject
from cocoon.tl.codec import encode
from cocoon.tl.types import (
    ClientQueryAnswerErrorEx,
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    ClientQueryFinalInfo,
    HttpHeader,
    HttpResponse,
    TokensUsed,
)
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.hops import final_info_strings
from cocoon.wire.messages import NO_TIMINGS, DebugTimings, Timings

Send = Callable[[TLObject], Awaitable[None]]
"""Sends one packet to the client (raises `ConnectionClosedError` once the connection is gone)."""

NO_TOKENS_USED = TokensUsed(
    prompt_tokens_used=0,
    cached_tokens_used=0,
    completion_tokens_used=0,
    reasoning_tokens_used=0,
    total_tokens_used=0,
)
TON_ERROR, TON_PROTOVIOLATION, TON_NOT_READY, TON_TIMEOUT = 602, 621, 651, 652
"""TON error codes (``td/ton`` errorcode.h) that COCOON clients turn into HTTP statuses."""
_DROPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def tokens_used(usage: Usage, charged: int, prompt_cost: int, price: int) -> TokensUsed:
    """The ``tokensUsed`` of a request charged ``charged`` adjusted tokens (see the module docstring)."""
    prompt_class = min(prompt_cost // price, charged) if price > 0 else 0
    completion_class = charged - prompt_class
    cached = prompt_class * usage.cached_tokens // usage.prompt_tokens if usage.prompt_tokens else 0
    reasoning = (
        completion_class * usage.reasoning_tokens // usage.completion_tokens if usage.completion_tokens else 0
    )
    return TokensUsed(
        prompt_tokens_used=prompt_class - cached,
        cached_tokens_used=cached,
        completion_tokens_used=completion_class - reasoning,
        reasoning_tokens_used=reasoning,
        total_tokens_used=charged,
    )


def ton_error_code(status: int, code: str) -> int:
    """The TON error code of one of our errors (HTTP ``status``, machine-readable ``code``)."""
    if status == 504 or "timeout" in code:
        return TON_TIMEOUT
    if status in (502, 503) and code != "upstream_error":
        return TON_NOT_READY
    if 400 <= status < 500 and status != 402:
        return TON_PROTOVIOLATION
    return TON_ERROR


def http_head(status: int, headers: tuple[tuple[str, str], ...]) -> bytes:
    """The boxed ``http.response`` that opens an answer whose body follows in parts."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    kept = tuple(HttpHeader(name=k, value=v) for k, v in headers if k.lower() not in _DROPPED_HEADERS)
    return encode(
        HttpResponse(
            http_version="HTTP/1.1",
            status_code=status,
            reason=reason,
            headers=(*kept, HttpHeader(name="Transfer-Encoding", value="chunked")),
            payload=b"",
        )
    )


class CocoonAnswer:
    """Writes one request's answer as COCOON packets (see the module docstring)."""

    def __init__(self, request_id: bytes, send: Send, price_per_token: int) -> None:
        self.request_id = request_id
        self._send = send
        self._price = price_per_token
        self._head_sent = False
        self._finished = False
        self.charged_tokens = 0
        """Adjusted tokens the ledger charged for this request (known once it ended)."""
        self.ended_ok = False
        """True once the answer ended successfully (its charge is final)."""
        self._failed_cost: RequestCost | None = None

    @property
    def head_sent(self) -> bool:
        return self._head_sent

    @property
    def finished(self) -> bool:
        return self._finished

    async def head(
        self, status: int, headers: tuple[tuple[str, str], ...] = (), *, e2e_nonce: bytes = b""
    ) -> bool:
        """Open the answer: status and headers (``e2e_nonce`` never comes: COCOON requests are plaintext)."""
        self._head_sent = True
        return await self._packet(
            ClientQueryAnswerEx(request_id=self.request_id, answer=http_head(status, headers))
        )

    async def chunk(self, data: bytes) -> bool:
        """Pass a piece of the body through, byte for byte."""
        return await self._packet(ClientQueryAnswerPartEx(request_id=self.request_id, answer=data))

    async def end(
        self,
        usage: Usage = NO_USAGE,
        timings: Timings = NO_TIMINGS,
        adjusted_tokens: int = 0,
        cost: int = 0,
        receipt: bytes | None = None,
        prompt_cost: int = 0,
        *,
        debug: DebugTimings | None = None,
    ) -> bool:
        """Close the answer with the tokens charged for it (and the hops' timings, when asked)."""
        self._finished = True
        self.charged_tokens = adjusted_tokens
        self.ended_ok = True
        worker_debug, proxy_debug = final_info_strings(debug) if debug is not None else (None, None)
        final = ClientQueryFinalInfo(
            tokens_used=tokens_used(usage, adjusted_tokens, prompt_cost, self._price),
            worker_debug=worker_debug,
            proxy_debug=proxy_debug,
        )
        if not self._head_sent:  # cannot happen through the router; the client still gets a whole answer
            self._head_sent = True
            answer = ClientQueryAnswerEx(
                request_id=self.request_id, answer=http_head(200, ()), final_info=final
            )
            return await self._packet(answer)
        return await self._packet(
            ClientQueryAnswerPartEx(request_id=self.request_id, answer=b"", final_info=final)
        )

    def charged(self, cost: RequestCost) -> None:
        """The router charged the delivered part of an answer that then failed (`ChargeAware`)."""
        self._failed_cost = cost

    async def error(
        self,
        status: int,
        code: str,
        message: str,
        usage: Usage | None = None,
        *,
        param: str | None = None,
        receipt: bytes | None = None,
    ) -> bool:
        """End the answer with an error (the TON code of ``status``; ``param`` joins the text)."""
        self._finished = True
        where = f" (parameter {param})" if param else ""
        low = "client balance is too low: " if status == 402 else ""
        return await self._packet(
            ClientQueryAnswerErrorEx(
                request_id=self.request_id,
                error_code=ton_error_code(status, code),
                error=f"{low}{code} (HTTP {status}): {message}{where}",
                final_info=ClientQueryFinalInfo(tokens_used=self._error_tokens(usage)),
            )
        )

    def _error_tokens(self, usage: Usage | None) -> TokensUsed:
        """What a failed answer was charged: its delivered part, or nothing."""
        cost = self._failed_cost
        if cost is None or usage is None:
            return NO_TOKENS_USED
        self.charged_tokens = cost.adjusted_tokens
        return tokens_used(usage, cost.adjusted_tokens, cost.prompt_cost_nano, self._price)

    async def _packet(self, obj: TLObject) -> bool:
        await self._send(obj)  # ConnectionClosedError once the client is gone, as from a Responder
        return True
