"""The client daemon's HTTP server: the OpenAI-compatible API of spec/openai-api.md plus status pages.

The network side is injected as an `InferenceBackend`, so this module only speaks HTTP: validate,
start the request, render its answer parts, and cancel the request end to end when the caller goes
away (the app runs with handler cancellation, so a disconnect cancels the handler task).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any, Protocol

from aiohttp import web

from cocoon.api.validation import DEFAULT_LIMITS, Limits, ValidatedRequest, validate_request
from cocoon.client.dashboard import make_dashboard
from cocoon.client.model_names import resolve_model
from cocoon.client.openai_out import (
    DONE_EVENT,
    add_cost_to_usage,
    error_event,
    error_from_answer,
    is_usage_chunk,
    sse_event,
)
from cocoon.client.receipts import ReceiptBook, ReceiptCheck, worker_refused
from cocoon.client.stats import ClientStats
from cocoon.errors import RequestError, StatementError
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart
from cocoon.wire.sse import SseParser

MODELS_TTL_S = 2.0
"""How long the list of served models is reused to resolve short model names."""

_UPSTREAM_GONE = RequestError(
    "The network ended the answer without finishing it; retry the request.",
    status=502,
    error_type="upstream_error",
    code="upstream_error",
)


class AnswerStream(Protocol):
    """The parts of one answer as they arrive; `cancel` tells the network to stop."""

    def __aiter__(self) -> AsyncIterator[AnswerPart]: ...

    async def cancel(self, reason: str) -> None: ...


class InferenceBackend(Protocol):
    """What the HTTP layer needs from the network."""

    async def run(self, request: ValidatedRequest, request_id: int) -> AnswerStream:
        """Send the request into the network; raise `RequestError` if it cannot even start."""
        ...

    async def models(self) -> list[dict[str, Any]]:
        """The models the network can serve now, in OpenAI list-item shape plus worker details."""
        ...

    async def status(self) -> dict[str, Any]:
        """Connection and balance facts for /jsonstats."""
        ...


API_KEY: web.AppKey[ClientApi] = web.AppKey("api")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, or a 413 `RequestError` as soon as it is known to exceed `limit`."""
    too_large = RequestError(
        f"Request body exceeds the limit of {limit} bytes.", status=413, code="request_too_large"
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def json_error(error: RequestError) -> web.Response:
    return web.json_response(error.to_body(), status=error.status, headers=error.headers)


class ClientApi:
    """Request handlers bound to one backend."""

    def __init__(
        self, backend: InferenceBackend, limits: Limits, stats: ClientStats, receipts: ReceiptBook
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.stats = stats
        self.receipts = receipts
        self._model_list: list[str] = []
        self._models_at = -MODELS_TTL_S

    async def inference(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            raw = await read_body(request, self.limits.max_body_bytes)
            validated = validate_request(request.path, raw, self.limits)
        except RequestError as error:
            self.stats.rejected += 1
            return json_error(error)
        if "@" not in validated.model:
            full = resolve_model(validated.model, await self._model_ids())
            if full != validated.model:
                body = {**validated.engine_body, "model": full}
                validated = dataclasses.replace(validated, model=full, engine_body=body)
        request_id = secrets.randbits(63)
        self.stats.started += 1
        try:
            stream = await self.backend.run(validated, request_id)
        except RequestError as error:
            self.stats.failed += 1
            return json_error(error)
        try:
            response = await self._answer(request, validated, request_id, stream)
        except BaseException:
            # The caller went away (handler cancelled) or we failed: stop the work end to end.
            await stream.cancel("the caller disconnected")
            self.stats.cancelled += 1
            raise
        self.stats.observe_latency(time.monotonic() - started)
        return response

    async def _model_ids(self) -> list[str]:
        """The model ids served now, asked of the network at most every MODELS_TTL_S seconds."""
        now = time.monotonic()
        if now - self._models_at > MODELS_TTL_S:
            self._model_list = [str(m["id"]) for m in await self.backend.models()]
            self._models_at = now
        return self._model_list

    async def _answer(
        self, request: web.Request, validated: ValidatedRequest, request_id: int, stream: AnswerStream
    ) -> web.StreamResponse:
        parts = aiter(stream)
        first = await anext(parts, None)
        if isinstance(first, AnswerError) or first is None:
            self.stats.failed += 1
            return json_error(error_from_answer(first) if first else _UPSTREAM_GONE)
        assert isinstance(first, AnswerHead)
        check = self.receipts.start(f"{request_id:016x}", validated.engine_body_bytes(), validated.model)
        try:
            self.receipts.head(check, first.headers)
        except StatementError as exc:
            await stream.cancel(f"worker refused: {exc}")
            self.stats.failed += 1
            return json_error(worker_refused(exc))
        parts = self.receipts.follow(parts, check)
        headers = {k: v for k, v in first.headers if k.lower().startswith("x-cocoon-")}
        headers["X-Cocoon-Request-Id"] = f"{request_id:016x}"
        if first.status != 200 or not validated.stream:
            return await self._whole(first, parts, headers, validated, check)
        return await self._stream(request, parts, headers, validated, check)

    async def _whole(
        self,
        head: AnswerHead,
        parts: AsyncIterator[AnswerPart],
        headers: dict[str, str],
        validated: ValidatedRequest,
        check: ReceiptCheck,
    ) -> web.Response:
        body = bytearray()
        async for part in parts:
            if isinstance(part, AnswerChunk):
                body += part.data
            elif isinstance(part, AnswerEnd):
                self.stats.finished(part)
                payload = bytes(body)
                if head.status == 200:
                    payload = add_cost_to_usage(payload, part, receipt=check.verified)
                content_type = dict((k.lower(), v) for k, v in head.headers).get(
                    "content-type", "application/json"
                )
                return web.Response(
                    body=payload, status=head.status, headers={**headers, "Content-Type": content_type}
                )
            elif isinstance(part, AnswerError):
                self.stats.failed += 1
                return json_error(error_from_answer(part))
        self.stats.failed += 1
        return json_error(_UPSTREAM_GONE)

    async def _stream(
        self,
        request: web.Request,
        parts: AsyncIterator[AnswerPart],
        headers: dict[str, str],
        validated: ValidatedRequest,
        check: ReceiptCheck,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        usage_chunk: bytes | None = None
        events = SseParser()
        async for part in parts:
            if isinstance(part, AnswerChunk):
                # Chunks carry the engine's SSE bytes; relay each event as it completes, but hold the
                # usage chunk for the cost and drop the engine's [DONE] (ours always comes last).
                out = bytearray()
                for event in events.feed(part.data):
                    payload = event.data.encode()
                    if event.is_done:
                        continue
                    if is_usage_chunk(payload):
                        usage_chunk = payload
                    else:
                        out += sse_event(payload)
                if out:
                    await response.write(bytes(out))
            elif isinstance(part, AnswerEnd):
                self.stats.finished(part)
                if usage_chunk is not None and validated.caller_wants_usage:
                    final = add_cost_to_usage(usage_chunk, part, receipt=check.verified)
                    await response.write(sse_event(final))
                break
            elif isinstance(part, AnswerError):
                self.stats.failed += 1
                await response.write(error_event(error_from_answer(part)))
                break
        else:
            self.stats.failed += 1
            await response.write(error_event(_UPSTREAM_GONE))
        await response.write(DONE_EVENT)
        await response.write_eof()
        return response

    async def receipt(self, request: web.Request) -> web.Response:
        """``GET /v1/receipts/{request_id}``: a recent verified receipt (request id = X-Cocoon-Request-Id)."""
        request_id = request.match_info["request_id"]
        found = self.receipts.get(request_id)
        if found is None:
            error = RequestError(
                f"No verified receipt for request {request_id!r}: unknown, too old (only the last "
                f"{self.receipts.capacity} are kept) or its receipt did not verify.",
                status=404,
                code="receipt_not_found",
            )
            return json_error(error)
        return web.json_response(found)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": await self.backend.models()})

    async def facts(self) -> dict[str, Any]:
        """Everything /jsonstats and the dashboard show."""
        client = {**self.stats.snapshot(), "receipts": asdict(self.receipts.counters)}
        return {"client": client, **(await self.backend.status())}

    async def jsonstats(self, request: web.Request) -> web.Response:
        return web.json_response(await self.facts())

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.stats.prometheus(), content_type="text/plain")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def not_found(self, request: web.Request) -> web.Response:
        error = RequestError(
            f"Unknown endpoint {request.method} {request.path}.", status=404, code="unknown_url"
        )
        return json_error(error)


@web.middleware
async def _openai_404(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return json_error(RequestError(f"Unknown endpoint {request.path}.", status=404, code="unknown_url"))
    except web.HTTPMethodNotAllowed:
        error = RequestError(f"Method {request.method} is not allowed on {request.path}.", status=405)
        return json_error(error)


def make_client_app(
    backend: InferenceBackend,
    limits: Limits = DEFAULT_LIMITS,
    stats: ClientStats | None = None,
    receipts: ReceiptBook | None = None,
) -> web.Application:
    """The aiohttp application of the client daemon (run it with ``handler_cancellation=True``)."""
    api = ClientApi(backend, limits, stats or ClientStats(), receipts or ReceiptBook())
    # Our own body limit gives a clean 413 with an OpenAI body; aiohttp's must not trigger first.
    app = web.Application(client_max_size=limits.max_body_bytes * 2 + 1024, middlewares=[_openai_404])
    app.router.add_post("/v1/chat/completions", api.inference)
    app.router.add_post("/v1/completions", api.inference)
    app.router.add_get("/v1/models", api.models)
    app.router.add_get("/v1/receipts/{request_id}", api.receipt)
    app.router.add_get("/jsonstats", api.jsonstats)
    app.router.add_get("/metrics", api.metrics)
    app.router.add_get("/healthz", api.healthz)
    dashboard = make_dashboard(api.facts, backend.models)
    app.router.add_get("/", dashboard)
    app.router.add_get("/stats", dashboard)
    app[API_KEY] = api
    return app
