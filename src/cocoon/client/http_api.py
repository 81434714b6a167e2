"""The client daemon's HTTP routes: the OpenAI-compatible API of spec/openai-api.md plus status pages.

Thin aiohttp handlers: read the body (415 unless it is plain JSON, 413 past the limit), validate it
(`cocoon.api.validation`), hand it to `cocoon.client.serving.ClientServing`, write what it returns. A
streamed answer is written as it comes and closed however the handler ends, so a caller that goes away
(the app runs with handler cancellation: a disconnect cancels the handler task) cancels its request end
to end.

The inference endpoints are also served by the app's fast lane (`lane_of`, `cocoon.client.fast_lane`),
which takes their plain requests off the socket before aiohttp sees them: the same access gate, body
checks, validation and serving, one code path for both (`ClientRoutes.lane`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter

from cocoon.api.validation import DEFAULT_LIMITS, Limits, validate_request
from cocoon.client.access import CALLER, AccessControl
from cocoon.client.backend import InferenceBackend
from cocoon.client.dashboard import make_dashboard
from cocoon.client.fast_lane import FastLane
from cocoon.client.http1_lane import LaneRequest
from cocoon.client.receipts import ReceiptBook
from cocoon.client.responses import EventStream, WholeAnswer, error_answer
from cocoon.client.serving import ClientServing
from cocoon.client.stats import ClientStats
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import RequestError

SERVING_KEY: web.AppKey[ClientServing] = web.AppKey("serving")
LANE_KEY: web.AppKey[FastLane] = web.AppKey("fast_lane")


FORM_PATHS = frozenset({"/v1/audio/transcriptions"})
"""The paths whose body is a ``multipart/form-data`` form (as OpenAI's), not JSON."""
LANE_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"})
"""The JSON inference paths the fast lane takes."""


def media_type(value: str) -> tuple[str, str | None]:
    """The media type of a ``Content-Type`` value, in lower case, and its ``charset`` if it names one."""
    kind, *parameters = value.split(";")
    charset = None
    for parameter in parameters:
        name, _, given = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = given.strip().strip('"').lower()
    return kind.strip().lower(), charset


def check_body_headers(path: str, content_type: str | None, content_encodings: Iterable[str]) -> None:
    """Refuse with a 415 `RequestError`, before a byte of it is read, a body this API does not take.

    A transcription (`FORM_PATHS`) must be ``multipart/form-data``; a browser page cannot send one
    cross-origin without an ``Origin`` header, which `cocoon.client.access` refuses unless allowed.

    ``Content-Type`` must be ``application/json`` (with ``charset=utf-8`` if it names one) or absent,
    as a script's ``requests.post(url, data=...)`` sends it: ``text/plain`` and the form types, which a
    web page may send anywhere without asking, are refused. ``Content-Encoding`` must be absent or
    ``identity``: a request body is never decompressed (the node's server does not decode it either),
    so a small gzip body cannot expand to gigabytes; the OpenAI SDKs never compress one.
    """
    encodings = [token.strip().lower() for value in content_encodings for token in value.split(",")]
    if any(token not in ("", "identity") for token in encodings):
        raise RequestError(
            f"Content-Encoding {', '.join(encodings)!r} is not supported: send the request body "
            "uncompressed.",
            status=415,
            code="unsupported_content_encoding",
            headers={"Accept-Encoding": "identity"},
        )
    kind, charset = media_type(content_type) if content_type is not None else (None, None)
    if path in FORM_PATHS:
        if kind != "multipart/form-data":
            raise RequestError(
                f"Content-Type {content_type or 'none'!r} is not supported here: "
                "send the audio and its fields as 'multipart/form-data', as OpenAI's API takes them.",
                status=415,
                code="unsupported_media_type",
            )
        return
    if content_type is None:
        return
    if kind != "application/json" or (charset or "utf-8") not in ("utf-8", "utf8"):
        raise RequestError(
            f"Content-Type {content_type!r} is not supported: send the JSON body "
            "with 'Content-Type: application/json'.",
            status=415,
            code="unsupported_media_type",
        )


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, after `check_body_headers`; a 413 `RequestError` as soon as it is known to
    exceed `limit`."""
    headers = request.headers
    check_body_headers(
        request.path, headers.get(hdrs.CONTENT_TYPE), headers.getall(hdrs.CONTENT_ENCODING, ())
    )
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> RequestError:
    """The 413 of a body past ``limit`` (made only then: an error costs microseconds to build)."""
    return RequestError(
        f"Request body exceeds the limit of {limit} bytes.", status=413, code="request_too_large"
    )


def respond(answer: WholeAnswer) -> web.Response:
    """The aiohttp response for a whole answer."""
    return web.Response(body=answer.body, status=answer.status, headers=answer.headers)


def json_error(error: RequestError) -> web.Response:
    return respond(error_answer(error))


class _StreamResponse(web.StreamResponse):
    """A stream response whose head waits in the writer to go out with the first chunk, as aiohttp's
    whole responses do (`write_stream` sends it alone if no chunk follows within one loop turn)."""

    _send_headers_immediately = False


def _send_head(writer: AbstractStreamWriter) -> None:
    """Send a response's head, unless a chunk already took it along."""
    # A caller gone by now is not lost: the stream's next write, or its end, meets the same error.
    with contextlib.suppress(ConnectionError):
        writer.send_headers()


async def write_stream(request: web.Request, events: EventStream) -> web.StreamResponse:
    """Send an event stream chunk by chunk; leaving early (disconnect, failed write) closes it.

    A system call each is most of what relaying a streamed answer costs, so writes are shared: the
    head goes out with the first chunk when that chunk is ready within the same loop turn (as it is
    for an answer that came at once), else alone at the next turn; once the stream is
    `EventStream.ending`, its last chunks (ready at once) go out with the end of the response."""
    response = _StreamResponse(headers=events.headers)
    tail = b""
    head: asyncio.Handle | None = None
    try:
        async with contextlib.aclosing(events):
            writer = await response.prepare(request)
            if writer is not None:
                head = asyncio.get_running_loop().call_soon(_send_head, writer)
            async for chunk in events:
                if events.ending:
                    tail += chunk
                else:
                    await response.write(chunk)
        await response.write_eof(tail)
    finally:
        if head is not None:
            head.cancel()
    return response


class ClientRoutes:
    """The request handlers, bound to one `ClientServing` (and, for the fast lane, its access gate)."""

    def __init__(self, serving: ClientServing, limits: Limits, access: AccessControl | None = None) -> None:
        self.serving = serving
        self.limits = limits
        self.access = access or AccessControl(clock=serving.clock)

    async def inference(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/responses`` and
        ``/v1/audio/transcriptions``."""
        started = self.serving.clock.monotonic()
        try:
            form = request.path in FORM_PATHS
            raw = await read_body(request, self.limits.max_form_bytes if form else self.limits.max_body_bytes)
            content_type = request.headers.get(hdrs.CONTENT_TYPE) if form else None
            validated = validate_request(request.path, raw, self.limits, content_type=content_type)
        except RequestError as error:
            return respond(self.serving.reject(error))
        answer = await self.serving.serve(validated, started=started)
        if isinstance(answer, WholeAnswer):
            return respond(answer)
        return await write_stream(request, answer)

    async def lane(self, request: LaneRequest, body: bytes) -> WholeAnswer | EventStream:
        """A request of the fast lane (`LANE_PATHS`, no ``Origin``, its whole body within the limit),
        served as `inference` serves it behind the access middleware."""
        started = self.serving.clock.monotonic()
        fields = request.fields
        try:
            key = self.access.gate("POST", request.path, fields.get("authorization", ""))
            encoding = fields.get("content-encoding")
            check_body_headers(
                request.path, fields.get("content-type"), () if encoding is None else (encoding,)
            )
            validated = validate_request(request.path, body, self.limits)
        except RequestError as error:
            return self.serving.reject(error)
        if key is not None:
            # Each lane request runs in a task of its own: the key set here is its alone, until the
            # answer is written (its spend is counted on it as the stream ends).
            CALLER.set(key.name)
        return await self.serving.serve(validated, started=started)

    async def receipt(self, request: web.Request) -> web.Response:
        """``GET /v1/receipts/{request_id}``: a recent verified receipt (request id = X-Cocoon-Request-Id)."""
        return respond(self.serving.receipt(request.match_info["request_id"]))

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": await self.serving.backend.models()})

    async def jsonstats(self, request: web.Request) -> web.Response:
        return web.json_response(await self.serving.facts())

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.serving.metrics(), content_type="text/plain")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


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
    *,
    clock: Clock = SYSTEM_CLOCK,
    access: AccessControl | None = None,
) -> web.Application:
    """The aiohttp application of the client daemon (run it with ``handler_cancellation=True``).

    ``access`` decides origins, API keys and budgets (default: no keys, no web origin allowed).
    """
    serving = ClientServing(backend, stats, receipts, clock=clock)
    access = access or AccessControl(clock=clock)
    routes = ClientRoutes(serving, limits, access)
    middlewares = [access.middleware(serving.reject), _openai_404]
    # Our own body limit gives a clean 413 with an OpenAI body; aiohttp's must not trigger first.
    app = web.Application(client_max_size=limits.max_body_bytes * 2 + 1024, middlewares=middlewares)
    access.attach(app, serving.stats)
    app.router.add_post("/v1/chat/completions", routes.inference)
    app.router.add_post("/v1/completions", routes.inference)
    app.router.add_post("/v1/embeddings", routes.inference)
    app.router.add_post("/v1/responses", routes.inference)
    app.router.add_post("/v1/audio/transcriptions", routes.inference)
    app.router.add_get("/v1/models", routes.models)
    app.router.add_get("/v1/receipts/{request_id}", routes.receipt)
    app.router.add_get("/jsonstats", routes.jsonstats)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/healthz", routes.healthz)
    dashboard = make_dashboard(serving.facts, backend.models)
    app.router.add_get("/", dashboard)
    app.router.add_get("/stats", dashboard)
    app[SERVING_KEY] = serving
    lane = app[LANE_KEY] = FastLane(routes.lane, LANE_PATHS, limits.max_body_bytes, clock=clock)
    serving.stats.parts["fast_lane"] = lane
    return app


def lane_of(app: web.Application) -> FastLane:
    """The fast lane of a client app made by `make_client_app` (serve it with `FastLaneSite`)."""
    return app[LANE_KEY]
