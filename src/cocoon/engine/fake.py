"""The fake engine: a deterministic OpenAI-compatible HTTP server for tests and benchmarks.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (streamed or
not; the answer is `plan_answer`'s: text, or a tool call or structured output, with log-probabilities
if asked), ``POST /v1/embeddings`` (`embedding_response`'s; a 404 as if there were no such route when
the config says ``embeddings=False``), ``POST /v1/responses`` (the Responses API, natively as vLLM:
`cocoon.engine.fake_responses`; 404 with ``responses=False``), ``POST /v1/audio/transcriptions`` (a
form: `cocoon.engine.fake_transcription`; 404 with ``transcriptions=False``), plus controls for fault
tests:

* ``GET /fake/stats``: requests seen (total, by path), the last request body, streams in progress,
  completed, aborted by the caller, and dropped on purpose;
* ``POST /fake/config``: change settings at run time (JSON object of `FakeEngineConfig` fields);
  ``POST /fake/reset``: zero the statistics;
* per-request headers: ``X-Fake-Fail: <status>`` (answer with that HTTP error), ``X-Fake-Drop-After: k``
  (cut the connection after k content chunks), ``X-Fake-Hang-After: k`` (stop sending after k chunks),
  ``X-Fake-Error-After: k`` with ``X-Fake-Error-Status: s`` (after k content chunks an in-stream error
  event with code s, then ``[DONE]``, as vLLM ends a stream that fails), ``X-Fake-Chunks: n``,
  ``X-Fake-Delay-Ms: x``.

Streaming writes pre-encoded events and, when there is no per-chunk delay, batches them into large
writes, so the fake engine is never the bottleneck of a benchmark.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from cocoon.api.multipart import FormBody
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.engine.fake_answer import (
    EMBEDDING,
    FakeAnswer,
    FakeEngineConfig,
    Rejection,
    model_entry,
)
from cocoon.engine.fake_embeddings import embedding_response
from cocoon.engine.fake_routes import ROUTES, plan, refusal, route_kind, stream_format, whole_body
from cocoon.engine.fake_state import (
    STATE,
    FakeEngineState,
    error_response,
    json_response,
    request_config,
    reset_stats,
    set_config,
    stats,
)
from cocoon.engine.fake_transcription import TRANSCRIPTION, transcribe
from cocoon.errors import ConfigError

_BATCH_BYTES = 32 * 1024
CLOCK = web.AppKey("fake_engine_clock", Clock)
"""The clock the fake engine stamps its answers' ``created`` with."""


async def _sleep_ms(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


async def _stream(
    request: web.Request, kind: str, body: dict[str, Any], answer: FakeAnswer, config: FakeEngineConfig
) -> web.StreamResponse:
    state = request.app[STATE]
    fmt = stream_format(
        kind,
        body,
        answer,
        request_id=state.next_id(kind),
        model=config.model,
        created=int(request.app[CLOCK].time()),
    )
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    pending = bytearray(fmt.first())
    await _sleep_ms(config.first_delay_ms)
    for i in range(len(answer.pieces)):
        if i == config.hang_after:
            await resp.write(bytes(pending))
            await asyncio.Event().wait()  # until the caller goes away or the server stops
        if i == config.drop_after:
            await resp.write(bytes(pending))
            _cut(request)
            return resp
        if i == config.error_after:
            pending += fmt.failure(config.error_status)
            break
        if config.delay_ms > 0:
            await _sleep_ms(config.delay_ms)
            pending += fmt.event(i)
            await resp.write(bytes(pending))
            pending.clear()
            continue
        pending += fmt.event(i)
        if len(pending) >= _BATCH_BYTES:
            await resp.write(bytes(pending))
            pending.clear()
    else:
        pending += fmt.finish(answer)
    await resp.write(bytes(pending))
    await resp.write_eof()
    return resp


def _cut(request: web.Request) -> None:
    """Drop the connection like a crashed engine: no terminating chunk, no ``[DONE]``."""
    request.app[STATE].dropped += 1
    if request.transport is not None:
        request.transport.abort()


async def _admit(request: web.Request, kind: str) -> tuple[Any, FakeEngineConfig] | web.Response:
    """Count the call, read its body and per-request config, and refuse it the way an engine would:
    the (body, config) to answer with, or the error response."""
    state = request.app[STATE]
    state.requests += 1
    state.by_path[request.path] += 1
    raw = await request.read()
    body: Any
    if kind == TRANSCRIPTION:
        body = FormBody(request.headers.get("Content-Type", ""), raw)
    else:
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return error_response(400, "request body is not valid JSON")
    state.last_body = body if kind != TRANSCRIPTION else {"form_bytes": len(raw)}
    try:
        config = request_config(state.config, request.headers)
    except ConfigError as exc:
        return error_response(400, str(exc))
    if route_kind(request.path, config) is None:
        return error_response(404, f"Not Found: this engine does not serve {request.path}")
    if config.fail_status is not None:
        return error_response(
            config.fail_status, f"fake engine failure (configured status {config.fail_status})"
        )
    # A transcription's form is read once, where it is answered (`_at_once`), as MemoryEngine does.
    refused = None if kind == TRANSCRIPTION else refusal(kind, body, config.model)
    if refused is not None:
        return _refused(refused)
    return body, config


def _refused(refused: Rejection) -> web.Response:
    return error_response(refused.status, refused.message, param=refused.param, code=refused.code)


async def _answer(request: web.Request, kind: str) -> web.StreamResponse:
    admitted = await _admit(request, kind)
    if isinstance(admitted, web.Response):
        return admitted
    body, config = admitted
    state = request.app[STATE]
    answer = plan(kind, body, config)
    state.active += 1
    dropped_before = state.dropped
    try:
        if body.get("stream"):
            resp = await _stream(request, kind, body, answer, config)
        else:
            resp = await _whole(request, kind, body, answer, config)
        if state.dropped == dropped_before:  # a cut connection is not a completed answer
            state.completed += 1
        return resp
    except (asyncio.CancelledError, ConnectionError):
        state.aborted += 1
        raise
    finally:
        state.active -= 1


async def _whole(
    request: web.Request, kind: str, body: dict[str, Any], answer: FakeAnswer, config: FakeEngineConfig
) -> web.Response:
    state = request.app[STATE]
    count = len(answer.pieces)
    await _sleep_ms(config.first_delay_ms + config.delay_ms * count)
    if config.hang_after is not None and config.hang_after < count:
        await asyncio.Event().wait()
    if config.drop_after is not None and config.drop_after < count:
        _cut(request)
        return web.Response(status=500)  # never reaches the caller: the connection is gone
    if config.error_after is not None and config.error_after < count:
        status = config.error_status
        return error_response(status, f"fake engine failure mid-answer (configured status {status})")
    request_id = state.next_id(kind)
    created = int(request.app[CLOCK].time())
    return json_response(
        whole_body(kind, body, answer, request_id=request_id, model=config.model, created=created)
    )


async def _at_once(request: web.Request, kind: str) -> web.Response:
    """An answer that is never streamed: embeddings and transcriptions."""
    admitted = await _admit(request, kind)
    if isinstance(admitted, web.Response):
        return admitted
    body, config = admitted
    await _sleep_ms(config.first_delay_ms)
    answer = embedding_response(body, config)[0] if kind == EMBEDDING else transcribe(body, config.model)
    if isinstance(answer, Rejection):
        return _refused(answer)
    request.app[STATE].completed += 1
    return json_response(msgspec.json.encode(answer))


def _handler(kind: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler of a route giving ``kind`` answers."""
    respond = _at_once if kind in (EMBEDDING, TRANSCRIPTION) else _answer

    async def handle(request: web.Request) -> web.StreamResponse:
        return await respond(request, kind)

    return handle


async def _models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.requests += 1
    state.by_path[request.path] += 1
    return web.json_response({"object": "list", "data": [model_entry(state.config)]})


def make_fake_engine_app(
    config: FakeEngineConfig | None = None, *, clock: Clock = SYSTEM_CLOCK
) -> web.Application:
    """The fake engine as an aiohttp application (``app[STATE]`` is its live state).

    Run it with ``handler_cancellation=True`` (as `start_fake_engine` does) so that a caller who
    disconnects is counted as ``aborted`` at once, not only at the next write.
    """
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = FakeEngineState(config=config or FakeEngineConfig())
    app[CLOCK] = clock
    app.router.add_get("/v1/models", _models)
    for path, kind in ROUTES.items():
        app.router.add_post(path, _handler(kind))
    app.router.add_get("/fake/stats", stats)
    app.router.add_post("/fake/config", set_config)
    app.router.add_post("/fake/reset", reset_stats)
    return app


@dataclass
class RunningFakeEngine:
    """A fake engine serving on a local port; ``base_url`` is what OpenAI clients take."""

    app: web.Application
    runner: web.AppRunner
    url: str

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return self.url + "/v1"

    @property
    def state(self) -> FakeEngineState:
        """The engine's live settings and statistics."""
        return self.app[STATE]

    async def close(self) -> None:
        """Stop serving; streams still open are cancelled."""
        await self.runner.cleanup()


async def start_fake_engine(
    config: FakeEngineConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock = SYSTEM_CLOCK,
) -> RunningFakeEngine:
    """Serve a fake engine in this event loop (port 0 picks a free port)."""
    app = make_fake_engine_app(config, clock=clock)
    # handler_cancellation: a caller that disconnects cancels its handler, so aborts are seen at once.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return RunningFakeEngine(app=app, runner=runner, url=f"http://{bound_host}:{bound_port}")


@asynccontextmanager
async def fake_engine(config: FakeEngineConfig | None = None) -> AsyncIterator[RunningFakeEngine]:
    """``async with fake_engine(cfg) as engine:`` serve on a free local port for the block's duration."""
    engine = await start_fake_engine(config)
    try:
        yield engine
    finally:
        await engine.close()
