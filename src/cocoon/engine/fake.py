"""The fake engine: a deterministic OpenAI-compatible HTTP server for tests and benchmarks.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (streamed or
not; the answer is `plan_answer`'s), plus controls for fault tests:

* ``GET /fake/stats``: requests seen (total, by path), the last request body, streams in progress,
  completed, aborted by the caller, and dropped on purpose;
* ``POST /fake/config``: change settings at run time (JSON object of `FakeEngineConfig` fields);
  ``POST /fake/reset``: zero the statistics;
* per-request headers: ``X-Fake-Fail: <status>`` (answer with that HTTP error), ``X-Fake-Drop-After: k``
  (cut the connection after k content chunks), ``X-Fake-Hang-After: k`` (stop sending after k chunks),
  ``X-Fake-Chunks: n``, ``X-Fake-Delay-Ms: x``.

Streaming writes pre-encoded events and, when there is no per-chunk delay, batches them into large
writes, so the fake engine is never the bottleneck of a benchmark.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from cocoon.engine.fake_answer import FakeAnswer, FakeEngineConfig, plan_answer
from cocoon.engine.fake_format import CHAT, COMPLETION, StreamFormat, error_body, full_response
from cocoon.errors import ConfigError

_BATCH_BYTES = 32 * 1024
_HEADER_OVERRIDES = {
    "X-Fake-Fail": "fail_status",
    "X-Fake-Drop-After": "drop_after",
    "X-Fake-Hang-After": "hang_after",
    "X-Fake-Chunks": "chunks",
    "X-Fake-Delay-Ms": "delay_ms",
}


@dataclass
class FakeEngineState:
    """Mutable run-time state of one fake engine: its current settings and what it has seen."""

    config: FakeEngineConfig
    requests: int = 0
    by_path: collections.Counter[str] = field(default_factory=collections.Counter)
    last_body: Any = None
    active: int = 0
    completed: int = 0
    aborted: int = 0  # the caller went away (or was cancelled) before the answer ended
    dropped: int = 0  # connections cut on purpose (drop_after)
    _seq: int = 0

    def next_id(self, kind: str) -> str:
        """A fresh response id in OpenAI's style."""
        self._seq += 1
        return f"{'chatcmpl' if kind == CHAT else 'cmpl'}-fake-{self._seq}"

    def reset(self) -> None:
        """Zero the statistics (the settings stay)."""
        self.requests = self.active = self.completed = self.aborted = self.dropped = 0
        self.by_path.clear()
        self.last_body = None

    def stats(self) -> dict[str, Any]:
        """The JSON served at ``GET /fake/stats``."""
        return {
            "requests": self.requests,
            "by_path": dict(self.by_path),
            "last_body": self.last_body,
            "active": self.active,
            "completed": self.completed,
            "aborted": self.aborted,
            "dropped": self.dropped,
            "config": dataclasses.asdict(self.config),
        }


STATE = web.AppKey("fake_engine_state", FakeEngineState)


def _json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _error(status: int, message: str, *, param: str | None = None, code: Any = None) -> web.Response:
    error_type = "invalid_request_error" if status < 500 else "server_error"
    return _json_response(error_body(message, error_type=error_type, param=param, code=code), status)


def _request_config(config: FakeEngineConfig, headers: Any) -> FakeEngineConfig:
    changes: dict[str, Any] = {}
    for header, name in _HEADER_OVERRIDES.items():
        value = headers.get(header)
        if value is not None:
            try:
                changes[name] = float(value) if name == "delay_ms" else int(value)
            except ValueError as exc:
                raise ConfigError(f"header {header} must be a number, got {value!r}") from exc
    return config.replace(changes) if changes else config


def _validate(body: Any, kind: str, model: str) -> web.Response | None:
    """An error response if ``body`` is not a request a real engine would accept, else None."""
    if not isinstance(body, dict):
        return _error(400, "request body must be a JSON object")
    if not isinstance(body.get("model"), str):
        return _error(400, "'model' is required and must be a string", param="model")
    if body["model"] != model:
        message = f"The model `{body['model']}` does not exist."
        return _error(404, message, param="model", code="model_not_found")
    if kind == CHAT and (not isinstance(body.get("messages"), list) or not body["messages"]):
        return _error(400, "'messages' must be a non-empty list", param="messages")
    if kind == COMPLETION and not isinstance(body.get("prompt"), str | list):
        return _error(400, "'prompt' is required (a string or a list)", param="prompt")
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return _error(400, f"'{key}' must be an integer >= 1, got {value!r}", param=key)
    if not isinstance(body.get("stream", False), bool | None):
        return _error(400, "'stream' must be a boolean", param="stream")
    return None


async def _sleep_ms(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


async def _stream(
    request: web.Request, kind: str, body: dict[str, Any], answer: FakeAnswer, config: FakeEngineConfig
) -> web.StreamResponse:
    state = request.app[STATE]
    options = body.get("stream_options") or {}
    fmt = StreamFormat(
        kind,
        request_id=state.next_id(kind),
        model=config.model,
        created=int(time.time()),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
    )
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    pending = bytearray(fmt.first())
    await _sleep_ms(config.first_delay_ms)
    for i, text in enumerate(answer.pieces):
        if i == config.hang_after:
            await resp.write(bytes(pending))
            await asyncio.Event().wait()  # until the caller goes away or the server stops
        if i == config.drop_after:
            await resp.write(bytes(pending))
            _cut(request)
            return resp
        if config.delay_ms > 0:
            await _sleep_ms(config.delay_ms)
            pending += fmt.content(text)
            await resp.write(bytes(pending))
            pending.clear()
            continue
        pending += fmt.content(text)
        if len(pending) >= _BATCH_BYTES:
            await resp.write(bytes(pending))
            pending.clear()
    pending += fmt.finish(answer)
    await resp.write(bytes(pending))
    await resp.write_eof()
    return resp


def _cut(request: web.Request) -> None:
    """Drop the connection like a crashed engine: no terminating chunk, no ``[DONE]``."""
    request.app[STATE].dropped += 1
    if request.transport is not None:
        request.transport.abort()


async def _answer(request: web.Request, kind: str) -> web.StreamResponse:
    state = request.app[STATE]
    state.requests += 1
    state.by_path[request.path] += 1
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        return _error(400, "request body is not valid JSON")
    state.last_body = body
    try:
        config = _request_config(state.config, request.headers)
    except ConfigError as exc:
        return _error(400, str(exc))
    if config.fail_status is not None:
        return _error(config.fail_status, f"fake engine failure (configured status {config.fail_status})")
    invalid = _validate(body, kind, config.model)
    if invalid is not None:
        return invalid
    answer = plan_answer(body, config)
    state.active += 1
    try:
        if body.get("stream"):
            resp = await _stream(request, kind, body, answer, config)
        else:
            resp = await _whole(request, kind, answer, config)
        state.completed += 1
        return resp
    except (asyncio.CancelledError, ConnectionError):
        state.aborted += 1
        raise
    finally:
        state.active -= 1


async def _whole(
    request: web.Request, kind: str, answer: FakeAnswer, config: FakeEngineConfig
) -> web.Response:
    state = request.app[STATE]
    count = len(answer.pieces)
    await _sleep_ms(config.first_delay_ms + config.delay_ms * count)
    if config.hang_after is not None and config.hang_after < count:
        await asyncio.Event().wait()
    if config.drop_after is not None and config.drop_after < count:
        _cut(request)
        return web.Response(status=500)  # never reaches the caller: the connection is gone
    request_id = state.next_id(kind)
    return _json_response(
        full_response(kind, answer, request_id=request_id, model=config.model, created=int(time.time()))
    )


async def _chat(request: web.Request) -> web.StreamResponse:
    return await _answer(request, CHAT)


async def _completions(request: web.Request) -> web.StreamResponse:
    return await _answer(request, COMPLETION)


async def _models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.requests += 1
    state.by_path[request.path] += 1
    model = {"id": state.config.model, "object": "model", "created": 0, "owned_by": "cocoon-fake"}
    return web.json_response({"object": "list", "data": [model]})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats())


async def _set_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        changes = msgspec.json.decode(await request.read())
        if not isinstance(changes, dict):
            raise ConfigError("POST /fake/config takes a JSON object of settings")
        state.config = state.config.replace(changes)
    except (msgspec.DecodeError, ConfigError) as exc:
        return _error(400, str(exc))
    return web.json_response(dataclasses.asdict(state.config))


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})


def make_fake_engine_app(config: FakeEngineConfig | None = None) -> web.Application:
    """The fake engine as an aiohttp application (``app[STATE]`` is its live state)."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = FakeEngineState(config=config or FakeEngineConfig())
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/v1/completions", _completions)
    app.router.add_get("/fake/stats", _stats)
    app.router.add_post("/fake/config", _set_config)
    app.router.add_post("/fake/reset", _reset)
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
    config: FakeEngineConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> RunningFakeEngine:
    """Serve a fake engine in this event loop (port 0 picks a free port)."""
    app = make_fake_engine_app(config)
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
