"""A request to a COCOON proxy and its answer, as the client's own answer parts (no I/O).

Out: `run_query` makes the ``client.runQueryEx`` of a validated request: its engine body boxed in an
``http.request`` (POST to the endpoint's path, JSON or form content type, the length), the model,
the completion budget as ``max_tokens``, ``max_coefficient``, the timeout less 5 % (the reference's
per-hop shrink) and a 32-byte random request id.

In: `AnswerMapper` turns the proxy's answer packets into the parts `cocoon.client.relay` reads:
the first ``client.queryAnswerEx`` carries a boxed ``http.response`` (status, headers, maybe the
whole body) -> `AnswerHead` (+ `AnswerChunk`); each ``client.queryAnswerPartEx`` -> `AnswerChunk`;
flag bit 0 (``final_info`` present) ends it -> `AnswerEnd` with the usage and the adjusted tokens of
``tokensUsed``; ``client.queryAnswerErrorEx`` (and the legacy proto-0 forms early rejections still
use) -> `AnswerError` with the status and code our own network would give (`cocoon_error`).

The reference worker re-serialises every JSON object of the engine's answer on a line of its own, so
a streamed answer through it arrives as JSON lines, not SSE: the mapper turns those lines into SSE
events (``data: <line>``), so the app gets the same stream as from our network. SSE passes unchanged.
A streamed answer that ends without any data (what that worker sends when its engine streams SSE,
which it drops) is an upstream error saying so, never an empty success.
The cost (nanoTON) is the adjusted tokens times the network's price per token when it is known,
else what the worker wrote into the answer's ``usage`` (``total_cost``, ``prompt_total_cost``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cocoon.api.validation import ValidatedRequest, generates_tokens
from cocoon.errors import CocoonError, DecodeError
from cocoon.payments.pricing import completion_budget
from cocoon.tl.base import TLObject
from cocoon.tl.codec import decode_as, encode
from cocoon.tl.types import (
    ClientQueryAnswer,
    ClientQueryAnswerError,
    ClientQueryAnswerErrorEx,
    ClientQueryAnswerEx,
    ClientQueryAnswerPart,
    ClientQueryAnswerPartError,
    ClientQueryAnswerPartEx,
    ClientRunQueryEx,
    HttpHeader,
    HttpRequest,
    HttpResponse,
    TokensUsed,
)
from cocoon.usage import Usage
from cocoon.wire.hops import parse_hop
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart, DebugTimings

log = logging.getLogger(__name__)

TIMEOUT_FACTOR = 0.95
"""Each hop gives the next 95 % of its time (the reference client does the same)."""
MAX_WHOLE_BODY = 64 * 1024 * 1024
"""A whole answer's body is kept (to read its usage) up to this size."""

# TON error codes (the reference's td/ton errorcode.h) and what our network calls the same failure.
ERROR_FAILURE, ERROR_ERROR, ERROR_WARNING = 601, 602, 603
ERROR_PROTOVIOLATION, ERROR_NOT_READY, ERROR_TIMEOUT, ERROR_CANCELLED = 621, 651, 652, 653
_ERRORS: dict[int, tuple[int, str]] = {
    ERROR_PROTOVIOLATION: (400, "invalid_request_error"),  # the worker's validator refused the request
    ERROR_NOT_READY: (503, "no_capacity"),
    ERROR_TIMEOUT: (504, "timeout"),
    ERROR_CANCELLED: (502, "upstream_error"),
}


def cocoon_error(request_id: int, error_code: int, message: str, proxy: str) -> AnswerError:
    """The `AnswerError` of a COCOON error: the status and code our own proxies use for the same kind
    of failure (a request the worker refused 400, an unknown model 404, not ready 503, timeout 504, a
    balance too low 402, anything else 502), the proxy's message kept."""
    status, code = _ERRORS.get(error_code, (502, "upstream_error"))
    lowered = message.lower()
    if "balance" in lowered and "low" in lowered:
        status, code = 402, "insufficient_funds"
    elif "unknown model" in lowered or "no worker serves model" in lowered:
        status, code = 404, "model_not_found"
    text = f"COCOON proxy {proxy} answered error {error_code}: {message}"
    if code == "insufficient_funds":
        text += "; top up the client contract"
    return AnswerError(request_id, status, code, text)


def http_request(request: ValidatedRequest) -> HttpRequest:
    """The engine request as the reference's ``http.request`` (what its worker forwards)."""
    body = request.engine_body_bytes()
    content_type = "application/json"
    if request.engine_file is not None:  # a transcription form: its boundary is on its first line
        boundary = body.split(b"\r\n", 1)[0][2:].decode("ascii", "replace")
        content_type = f"multipart/form-data; boundary={boundary}"
    headers = (
        HttpHeader(name="Content-Type", value=content_type),
        HttpHeader(name="Content-Length", value=str(len(body))),
    )
    return HttpRequest(
        method="POST", url=request.path, http_version="HTTP/1.1", headers=headers, payload=body
    )


def run_query(
    request: ValidatedRequest, request_id: bytes, *, timeout_s: float, min_config_version: int = 0
) -> ClientRunQueryEx:
    """The ``client.runQueryEx`` packet of ``request`` (``request_id``: 32 random bytes)."""
    budget = completion_budget(request.max_tokens, request.choices) if generates_tokens(request.path) else 0
    return ClientRunQueryEx(
        model_name=request.model,
        query=encode(http_request(request)),
        max_coefficient=request.max_coefficient,
        max_tokens=budget,
        timeout=timeout_s * TIMEOUT_FACTOR,
        request_id=request_id,
        min_config_version=min_config_version,
        enable_debug=True if request.enable_debug else None,
    )


class AnswerMapper:
    """One answer's packets -> `AnswerPart`s (see the module docstring); ``done`` after its end."""

    def __init__(
        self, request_id: int, proxy: str, *, stream: bool, price_per_token: int | None = None
    ) -> None:
        self.request_id = request_id
        self.proxy = proxy
        self.stream = stream
        self.price_per_token = price_per_token
        self.done = False
        self._head: AnswerHead | None = None
        self._lines: _JsonLines | None = None  # set once a streamed body turns out to be JSON lines
        self._sniffed = False
        self._body = bytearray()
        self._partial = b""
        self._sent = 0
        self._usage: dict[str, Any] | None = None

    def feed(self, obj: TLObject) -> list[AnswerPart]:
        """The parts one answer packet of this request gives (none after the end)."""
        if self.done:
            return []
        if isinstance(obj, ClientQueryAnswerErrorEx | ClientQueryAnswerError | ClientQueryAnswerPartError):
            self.done = True
            return [cocoon_error(self.request_id, obj.error_code, obj.error, self.proxy)]
        parts: list[AnswerPart] = []
        if isinstance(obj, ClientQueryAnswerEx | ClientQueryAnswer) and self._head is None:
            try:
                response = decode_as(obj.answer, HttpResponse)
            except DecodeError as exc:
                self.done = True
                return [self._upstream(f"its answer is not an http.response: {exc}")]
            headers = tuple((h.name, h.value) for h in response.headers)
            self._head = AnswerHead(self.request_id, response.status_code, headers)
            parts.append(self._head)
            data = response.payload
        elif isinstance(
            obj, ClientQueryAnswerPartEx | ClientQueryAnswerPart | ClientQueryAnswerEx | ClientQueryAnswer
        ):
            if self._head is None:
                self.done = True
                return [self._upstream("it sent a part of an answer before its head")]
            data = obj.answer
        else:
            return []
        parts.extend(self._chunk(data))
        final = _final_tokens(obj)
        if final is not None:
            parts.extend(self._chunk(b"", flush=True))
            parts.append(self._end(final, _final_debug(obj)))
            self.done = True
        return parts

    def _upstream(self, why: str) -> AnswerError:
        return AnswerError(self.request_id, 502, "upstream_error", f"COCOON proxy {self.proxy}: {why}")

    def _chunk(self, data: bytes, *, flush: bool = False) -> list[AnswerPart]:
        if self.stream and self._head is not None and self._head.status == 200:
            if not self._sniffed and data.strip():
                self._sniffed = True
                if data.lstrip()[:1] in (b"{", b"["):
                    self._lines = _JsonLines()
            if self._lines is not None:
                data = self._lines.feed(data, flush=flush)
            self._observe_events(data)
        elif len(self._body) + len(data) <= MAX_WHOLE_BODY:
            self._body += data
        self._sent += len(data)
        return [AnswerChunk(self.request_id, data)] if data else []

    def _observe_events(self, data: bytes) -> None:
        """Keep the last ``usage`` object of the stream's events (read line by line as they complete)."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if b'"usage"' in line and line.startswith(b"data:"):
                self._keep_usage(line[5:])

    def _keep_usage(self, text: bytes) -> None:
        try:
            doc = json.loads(text)
        except ValueError:
            return
        if isinstance(doc, dict) and isinstance(doc.get("usage"), dict):
            self._usage = doc["usage"]

    def _end(self, tokens: TokensUsed, debug: DebugTimings | None = None) -> AnswerEnd | AnswerError:
        if self.stream and self._head is not None and self._head.status == 200 and not self._sent:
            # What the reference worker sends when its engine streams SSE: it relays only JSON values.
            return self._upstream(
                "it ended a streamed answer without any data (the reference worker relays only JSON lines "
                "from its engine and drops an SSE stream); ask without stream, or use a worker whose engine "
                "streams JSON lines"
            )
        if self._body:  # a whole answer (or a failed stream's error body)
            self._keep_usage(bytes(self._body))
        usage = Usage()
        if self._usage is not None:
            try:
                usage = _usage_of(self._usage)
            except CocoonError as exc:
                log.warning("COCOON proxy %s: the answer's usage is not readable: %s", self.proxy, exc)
        adjusted = tokens.total_tokens_used
        prompt_adjusted = tokens.prompt_tokens_used + tokens.cached_tokens_used
        if self.price_per_token is not None:
            cost, prompt_cost = adjusted * self.price_per_token, prompt_adjusted * self.price_per_token
        else:  # the worker's own figures in the body (the reference worker writes them)
            cost = _nano(self._usage, "total_cost")
            prompt_cost = min(_nano(self._usage, "prompt_total_cost"), cost)
        return AnswerEnd(
            self.request_id,
            usage,
            adjusted_tokens=max(adjusted, 0),
            cost=cost,
            prompt_cost=prompt_cost,
            debug=debug,
        )


def _final_debug(obj: TLObject) -> DebugTimings | None:
    """The hops' timings a COCOON proxy put in its final info (ours does for ``enable_debug``); a hop
    in another implementation's format is left out (None), never trusted as numbers."""
    info = obj.final_info if isinstance(obj, ClientQueryAnswerEx | ClientQueryAnswerPartEx) else None
    if info is None or (info.worker_debug is None and info.proxy_debug is None):
        return None
    return DebugTimings(
        worker=parse_hop("worker", info.worker_debug), proxy=parse_hop("proxy", info.proxy_debug)
    )


def _final_tokens(obj: TLObject) -> TokensUsed | None:
    """The ``tokensUsed`` of a packet that ends its answer; None for one that does not."""
    if isinstance(obj, ClientQueryAnswerEx | ClientQueryAnswerPartEx):
        return obj.final_info.tokens_used if obj.final_info is not None else None
    if isinstance(obj, ClientQueryAnswer | ClientQueryAnswerPart):
        return obj.request_tokens_used if obj.is_completed else None
    return None


def _usage_of(usage: dict[str, Any]) -> Usage:
    """The token counts of an OpenAI ``usage`` object (chat and completions spelling)."""
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    reasoning = _nano(
        completion_details if isinstance(completion_details, dict) else None, "reasoning_tokens"
    )
    return Usage(
        prompt_tokens=_nano(usage, "prompt_tokens"),
        cached_tokens=_nano(prompt_details if isinstance(prompt_details, dict) else None, "cached_tokens"),
        completion_tokens=_nano(usage, "completion_tokens"),
        reasoning_tokens=reasoning or _nano(usage, "reasoning_tokens"),
    )


def _nano(usage: dict[str, Any] | None, key: str) -> int:
    """A non-negative integer member of ``usage`` (0 when absent or not one)."""
    value = usage.get(key) if usage else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class _JsonLines:
    """JSON lines -> SSE events, one per complete line (a partial line waits for its end)."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes, *, flush: bool = False) -> bytes:
        text = self._rest + data
        lines = text.split(b"\n")
        self._rest = b"" if flush else lines.pop()
        return b"".join(b"data: " + line.strip() + b"\n\n" for line in lines if line.strip())
