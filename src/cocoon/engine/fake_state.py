"""The fake engine's run-time state and its control surface (statistics, settings, fault headers).

Fault tests drive a running fake engine through this: ``GET /fake/stats`` shows what it has seen,
``POST /fake/config`` changes its behaviour (e.g. ``{"fail_status": 503}`` or ``{"hang_after": 2}``),
``POST /fake/reset`` zeroes the counters, and ``X-Fake-*`` request headers change one request only.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.fake_format import error_body
from cocoon.engine.fake_routes import answer_id
from cocoon.errors import ConfigError

_HEADER_OVERRIDES = {
    "X-Fake-Fail": "fail_status",
    "X-Fake-Drop-After": "drop_after",
    "X-Fake-Hang-After": "hang_after",
    "X-Fake-Error-After": "error_after",
    "X-Fake-Error-Status": "error_status",
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
        return answer_id(kind, "fake", self._seq)

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


def json_response(body: bytes, status: int = 200) -> web.Response:
    """A JSON response from already-encoded bytes."""
    return web.Response(body=body, status=status, content_type="application/json")


def error_response(status: int, message: str, *, param: str | None = None, code: Any = None) -> web.Response:
    """An OpenAI error response."""
    error_type = "invalid_request_error" if status < 500 else "server_error"
    return json_response(error_body(message, error_type=error_type, param=param, code=code), status)


def request_config(config: FakeEngineConfig, headers: Any) -> FakeEngineConfig:
    """The settings for one request: ``config`` with the request's ``X-Fake-*`` headers applied."""
    changes: dict[str, Any] = {}
    for header, name in _HEADER_OVERRIDES.items():
        value = headers.get(header)
        if value is not None:
            try:
                changes[name] = float(value) if name == "delay_ms" else int(value)
            except ValueError as exc:
                raise ConfigError(f"header {header} must be a number, got {value!r}") from exc
    return config.replace(changes) if changes else config


async def stats(request: web.Request) -> web.Response:
    """``GET /fake/stats``."""
    return web.json_response(request.app[STATE].stats())


async def set_config(request: web.Request) -> web.Response:
    """``POST /fake/config``: apply a JSON object of settings; answers the new settings."""
    state = request.app[STATE]
    try:
        changes = msgspec.json.decode(await request.read())
        if not isinstance(changes, dict):
            raise ConfigError("POST /fake/config takes a JSON object of settings")
        state.config = state.config.replace(changes)
    except (msgspec.DecodeError, ConfigError) as exc:
        return error_response(400, str(exc))
    return web.json_response(dataclasses.asdict(state.config))


async def reset_stats(request: web.Request) -> web.Response:
    """``POST /fake/reset``: zero the statistics."""
    request.app[STATE].reset()
    return web.json_response({"ok": True})
