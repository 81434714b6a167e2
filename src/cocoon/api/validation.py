"""Validation and rewriting of OpenAI-style inference requests (spec/openai-api.md).

Used twice on every request: by the client daemon (fail fast, before any cost) and by the worker (it
protects its engine). Pure: bytes in, a `ValidatedRequest` or a `RequestError` out.

The body must be one JSON object read strictly (`cocoon.api.json_body`); whatever else a body holds
is a `RequestError` (a 4xx), never another exception.

Rewrites applied to the body that reaches the engine:
- our extra fields (`max_coefficient`, `timeout`, `enable_debug`, `request_guid`) are removed;
- the generation cap is always present as `max_tokens` (`max_completion_tokens` is folded into it), so a
  request can never generate more than it reserved;
- a streamed request always asks the engine for `stream_options.include_usage = true` (metering needs
  it); whether the caller asked for the usage chunk is remembered in `caller_wants_usage`
  (`stream_options` without ``stream: true`` is refused, as OpenAI does).

`ValidatedRequest.choices` is how many choices the engine generates (``n``, or a legacy completion's
``best_of`` when larger): the request may generate ``max_tokens`` tokens for each of them.

An embeddings request (`/v1/embeddings`) generates nothing: it is never streamed, its body reaches the
engine without ``max_tokens`` or ``stream``, and its `ValidatedRequest.max_tokens` is 0 (no completion
budget: it is priced as prompt tokens only, see `generates_tokens`).

A Responses API request (`/v1/responses`) is stateless (``store`` is false, nothing to continue from),
capped by ``max_output_tokens`` (`ValidatedRequest.cap_key`), and must translate onto chat completions
(`cocoon.api.responses_request`). An audio transcription (`/v1/audio/transcriptions`) is a form
(`cocoon.api.transcription`), never streamed; like embeddings it has no completion budget: it is
reserved by its size and charged from the usage its engine reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cocoon.api.json_body import encode_json, parse_json_object
from cocoon.api.multipart import FormBody, FormPart, boundary_of, boundary_of_body, encode_form
from cocoon.api.responses_request import chat_request
from cocoon.api.schema import GENERATING, OURS, REQUIRED, SCHEMAS, Endpoint
from cocoon.api.transcription import TranscriptionForm, form_parts, read_transcription_form
from cocoon.errors import RequestError

ENDPOINTS: dict[str, Endpoint] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
    "/v1/audio/transcriptions": "transcriptions",
}
DEFAULT_MAX_TOKENS = 1000
DEFAULT_MAX_COEFFICIENT = 4000
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_TOKENS_LIMIT = 1_000_000
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_FORM_BYTES = 15 * 1024 * 1024
"""The largest transcription form (audio included): a network request travels in one 16 MiB frame."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a node enforces on requests (configurable per node)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_form_bytes: int = DEFAULT_MAX_FORM_BYTES
    """The largest ``multipart/form-data`` body (an audio transcription's)."""
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    max_tokens_limit: int = DEFAULT_MAX_TOKENS_LIMIT


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class ValidatedRequest:
    """A request that passed validation, with the rewritten body to send to the engine."""

    endpoint: Endpoint
    path: str
    model: str
    stream: bool
    caller_wants_usage: bool
    max_tokens: int
    """The generation cap of each choice (what the engine body's ``max_tokens`` says); 0 for an
    endpoint that generates nothing (embeddings)."""
    choices: int
    """How many choices the engine generates: ``n``, or ``best_of`` when larger (legacy completions)."""
    max_coefficient: int
    timeout_s: float
    enable_debug: bool
    request_guid: str | None
    engine_body: dict[str, Any] = field(repr=False)
    cap_key: str = "max_tokens"
    """The engine body's field that caps generation (``max_output_tokens`` in the Responses API)."""
    engine_file: FormPart | None = field(default=None, repr=False)
    """A form's file (the audio of a transcription): the engine body is then a form, whose text fields
    are `engine_body`'s."""
    _body_bytes: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """`engine_body_bytes`, once computed (a client sends them, and hashes them for the receipt)."""

    @property
    def engine_payload(self) -> dict[str, Any] | FormBody:
        """What the engine is sent: the JSON body, or the canonical form of a transcription."""
        if self.engine_file is None:
            return self.engine_body
        return encode_form(form_parts(self.engine_body, self.engine_file))

    def engine_body_bytes(self) -> bytes:
        """The engine body's bytes: compact JSON, or the canonical form (`encode_form`).

        Computed once, then kept: change `engine_body` only before the first call (a worker lowers the
        cap before anything reads the bytes), or make a new request with ``dataclasses.replace``.
        """
        if self._body_bytes is None:
            payload = self.engine_payload
            data = payload.data if isinstance(payload, FormBody) else encode_json(payload)
            object.__setattr__(self, "_body_bytes", data)  # a cache, not a field: frozen stays true
            return data
        return self._body_bytes


def validate_request(
    path: str, raw: bytes, limits: Limits = DEFAULT_LIMITS, *, content_type: str | None = None
) -> ValidatedRequest:
    """Validate one inference request and return it with its engine body rewritten.

    A transcription is a form: its boundary comes from ``content_type`` (the caller's header) or, for
    a form the network already made canonical, from its first line.

    Raises `RequestError` (404 for an unknown path, 413 for an oversized body, 400 otherwise) whose
    message and `param` name what is wrong.
    """
    endpoint = ENDPOINTS.get(path)
    if endpoint is None:
        raise RequestError(f"Unknown endpoint {path}.", status=404, code="unknown_url")
    limit = limits.max_form_bytes if endpoint == "transcriptions" else limits.max_body_bytes
    if len(raw) > limit:
        raise RequestError(
            f"Request body of {len(raw)} bytes exceeds the limit of {limit} bytes.",
            status=413,
            code="request_too_large",
        )
    if endpoint == "transcriptions":
        boundary = boundary_of(content_type) if content_type else boundary_of_body(raw)
        return _transcription(path, read_transcription_form(raw, boundary))
    body = parse_json_object(raw)
    _check_fields(endpoint, body)
    return _rewrite(endpoint, path, body, limits)


def _transcription(path: str, form: TranscriptionForm) -> ValidatedRequest:
    """A transcription: never streamed, no completion budget (it is reserved by its size and metered
    from the engine's usage), its form made canonical for the network."""
    ours = form.ours
    return ValidatedRequest(
        endpoint="transcriptions",
        path=path,
        model=str(form.engine_fields["model"]),
        stream=False,
        caller_wants_usage=False,
        max_tokens=0,
        choices=1,
        max_coefficient=int(ours.get("max_coefficient", DEFAULT_MAX_COEFFICIENT)),
        timeout_s=float(ours.get("timeout", DEFAULT_TIMEOUT_S)),
        enable_debug=ours.get("enable_debug") == "true",
        request_guid=ours.get("request_guid"),
        engine_body=dict(form.engine_fields),
        engine_file=form.file,
    )


def generates_tokens(path: str) -> bool:
    """Whether requests to ``path`` generate tokens (chat, completions: a completion budget is reserved
    and capped) or not (embeddings: prompt tokens only, no budget, never streamed)."""
    endpoint = ENDPOINTS.get(path)
    return endpoint is None or endpoint in GENERATING


def _check_fields(endpoint: Endpoint, body: Mapping[str, Any]) -> None:
    schema = SCHEMAS[endpoint]
    for key in REQUIRED[endpoint]:
        if key not in body:
            raise RequestError(f"Missing required parameter: '{key}'.", param=key)
    for key, value in body.items():
        checker = schema.get(key)
        if checker is None:
            raise RequestError(f"Unrecognized request argument supplied: {key}", param=key)
        expected = checker(value)
        if expected is not None:
            raise RequestError(f"Invalid value for '{key}': expected {expected}.", param=key)
    if not body["model"]:
        raise RequestError("Parameter 'model' must not be empty.", param="model")


def _rewrite(endpoint: Endpoint, path: str, body: dict[str, Any], limits: Limits) -> ValidatedRequest:
    engine = {k: v for k, v in body.items() if k not in OURS}
    if endpoint not in GENERATING:
        return _request(endpoint, path, body, engine, stream=False, caller_wants_usage=False, max_tokens=0)
    if endpoint == "responses":
        return _rewrite_responses(path, body, engine, limits)
    cap_key = "max_completion_tokens" if engine.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _cap(engine.pop("max_completion_tokens", None) or engine.get("max_tokens"), cap_key, limits)
    engine["max_tokens"] = max_tokens
    n = engine.get("n") or 1
    best_of = engine.get("best_of")  # legacy completions only: candidates generated, best n returned
    if best_of is not None and best_of < n:
        raise RequestError(f"'best_of' ({best_of}) must be at least 'n' ({n}).", param="best_of")
    stream_options = engine.get("stream_options")
    stream = _stream(engine)
    caller_wants_usage = bool(stream_options and stream_options.get("include_usage"))
    if stream:
        engine["stream"] = True
        engine["stream_options"] = {**(stream_options or {}), "include_usage": True}
    else:
        engine.pop("stream_options", None)  # null: the same as absent
    return _request(
        endpoint,
        path,
        body,
        engine,
        stream=stream,
        caller_wants_usage=caller_wants_usage,
        max_tokens=max_tokens,
        choices=max(n, best_of or 1),
    )


def _cap(asked: int | None, cap_key: str, limits: Limits) -> int:
    """The generation cap of each choice: what was asked (default: the node's), within its limit."""
    max_tokens = limits.default_max_tokens if asked is None else asked
    if max_tokens > limits.max_tokens_limit:
        raise RequestError(
            f"'{cap_key}' of {max_tokens} is above this node's limit of {limits.max_tokens_limit}.",
            param=cap_key,
        )
    return max_tokens


def _stream(engine: Mapping[str, Any]) -> bool:
    """Whether the request streams; `stream_options` without it is refused, as OpenAI does."""
    stream = bool(engine.get("stream"))
    if engine.get("stream_options") is not None and not stream:
        raise RequestError(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
        )
    return stream


_STATEFUL = {
    "store": "responses are not stored: send 'store': false (or leave it out)",
    "previous_response_id": "no response is stored to continue from: send the whole conversation in 'input'",
    "background": "there are no background responses to poll: leave 'background' out",
    "include": "no extra output can be included: leave 'include' out",
}
"""Responses API fields that ask for state or extras a stateless, private network does not keep."""


def _rewrite_responses(
    path: str, body: dict[str, Any], engine: dict[str, Any], limits: Limits
) -> ValidatedRequest:
    """A Responses request: stateless (``store`` false, nothing to continue from), capped by
    ``max_output_tokens``, one choice; its usage always comes with the answer. Its structure must
    translate onto chat completions (`chat_request`), so every worker can serve it."""
    for key, why in _STATEFUL.items():
        if engine.get(key):
            raise RequestError(f"This network is stateless and private: {why}.", param=key)
    for key in ("previous_response_id", "background", "include"):
        engine.pop(key, None)
    engine["store"] = False  # an engine that could keep the conversation must not
    max_tokens = _cap(engine.get("max_output_tokens"), "max_output_tokens", limits)
    engine["max_output_tokens"] = max_tokens
    stream = _stream(engine)
    engine.pop("stream_options", None)  # the Responses API always reports usage with the answer
    if stream:
        engine["stream"] = True
    chat_request(engine)  # raises for what cannot be translated, naming it
    return _request(
        "responses",
        path,
        body,
        engine,
        stream=stream,
        caller_wants_usage=True,
        max_tokens=max_tokens,
        cap_key="max_output_tokens",
    )


def _request(
    endpoint: Endpoint,
    path: str,
    body: dict[str, Any],
    engine: dict[str, Any],
    *,
    stream: bool,
    caller_wants_usage: bool,
    max_tokens: int,
    choices: int = 1,
    cap_key: str = "max_tokens",
) -> ValidatedRequest:
    """The `ValidatedRequest` of ``body`` (as the caller sent it) with ``engine`` as its engine body."""
    guid = body.get("request_guid")
    return ValidatedRequest(
        endpoint=endpoint,
        path=path,
        model=body["model"],
        stream=stream,
        caller_wants_usage=caller_wants_usage,
        max_tokens=max_tokens,
        choices=choices,
        max_coefficient=body.get("max_coefficient", DEFAULT_MAX_COEFFICIENT),
        timeout_s=float(body.get("timeout", DEFAULT_TIMEOUT_S)),
        enable_debug=bool(body.get("enable_debug", False)),
        request_guid=guid if isinstance(guid, str) else None,
        engine_body=engine,
        cap_key=cap_key,
    )
