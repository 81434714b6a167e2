"""What the fake engine answers to a request: deterministic text, token counts and failure plan (pure).

The answer is computed from the request alone, so tests can predict it without asking the engine:

* words = the whitespace-separated words of the *last* chat message (or of the completion prompt),
  or ``["fake"]`` if there are none;
* chunk ``i`` (0-based) = ``words[i % len(words)] + " "``, or, with ``chunk_size > 0``, that word and
  a space repeated and cut to exactly ``chunk_size`` characters;
* number of chunks = ``config.chunks``, capped by ``max_completion_tokens`` / ``max_tokens`` (one token
  per chunk); ``finish_reason`` is ``"length"`` when the cap cut the answer, else ``"stop"``;
* choices = the request's ``n`` (default 1), each with that same text, as vLLM answers ``n`` (its
  choices differ only by sampling); the usage counts all of them;
* prompt tokens = ``config.prompt_tokens`` or ``ceil(len(all prompt text) / 4)`` (at least 1), where
  the prompt text is every message's text joined by ``"\\n"``, counted once; completion tokens =
  choices times ``config.completion_tokens`` or the number of chunks sent; cached and reasoning tokens
  as configured.

Tool calls (chat only; `cocoon.engine.fake_tools`): with ``tools`` the answer calls one tool when
``tool_choice`` is ``"required"`` (the first tool), names a function (that one; an unknown name is a
400 on ``tool_choice``, as vLLM), or is ``"auto"``/absent and the last message's text contains a tool's
name (the first tool so mentioned; never when the last message is a ``"tool"`` result, which is
answered with text); ``"none"`` never calls. The call's ``arguments`` = compact JSON of
`schema_instance` of the tool's ``parameters`` (every property; strings are ``words[0]``); its id =
``call_`` + the first 24 hex of SHA-256(name + arguments + choice index); ``content`` is null and
``finish_reason`` ``"tool_calls"``. Streamed as vLLM: after the role chunk, one chunk per choice with
the call's id, type, name and ``arguments: ""``, then the arguments in pieces.

Structured output (`response_format`): ``json_schema`` -> compact JSON of `schema_instance` of its
``schema`` (``$defs``/``$ref``, ``anyOf`` ... resolved); ``json_object`` -> ``{"answer": <the text
answer of config.chunks pieces, stripped>}``; a tool call wins over ``response_format``. Such a JSON
text of ``L`` characters is sent in ``n = max(1, min(config.chunks, L))`` pieces, piece ``j`` being
``text[j * L // n : (j + 1) * L // n]``; it costs ``ceil(L / 4)`` (at least 1) completion tokens
per choice (or ``config.completion_tokens``), and a cap below that cuts it to ``4 * cap`` characters
with ``finish_reason`` ``"length"``.

Log-probabilities (``logprobs``/``top_logprobs`` in chat, ``logprobs: k`` in completions): per piece,
as `cocoon.engine.fake_logprobs` says; ``top_logprobs`` > 0 without ``logprobs: true`` is a 400.

Embeddings are answered by `cocoon.engine.fake_embeddings`, transcriptions by
`cocoon.engine.fake_transcription`, the Responses API by `cocoon.engine.fake_responses`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cocoon.engine.fake_logprobs import check_logprobs, requested_top
from cocoon.engine.fake_tools import check_response_format, check_tools, json_answer, json_pieces
from cocoon.errors import ConfigError
from cocoon.usage import Usage

FAKE_MODEL = "fake-model"
CHAT = "chat"
COMPLETION = "completion"
EMBEDDING = "embedding"


@dataclass(frozen=True, slots=True)
class FakeEngineConfig:
    """Behaviour of the fake engine. Every field can be overridden per process (CLI) or at run time."""

    model: str = FAKE_MODEL
    chunks: int = 8
    chunk_size: int = 0  # characters per chunk; 0 = one prompt word and a space
    delay_ms: float = 0.0  # pause before each chunk
    first_delay_ms: float = 0.0  # extra pause before the first chunk (prefill / queueing)
    prompt_tokens: int | None = None
    cached_tokens: int = 0
    completion_tokens: int | None = None
    reasoning_tokens: int = 0
    fail_status: int | None = None  # answer every request with this HTTP error status
    drop_after: int | None = None  # cut the connection after this many content chunks
    hang_after: int | None = None  # stop sending (connection stays open) after this many chunks
    error_after: int | None = None  # after this many content chunks, an in-stream error event, [DONE]
    error_status: int = 500  # the status (``code``) that in-stream error carries, as vLLM sends it
    context_length: int | None = None  # listed as ``max_model_len`` in /v1/models, as vLLM does
    embeddings: bool = True  # serves /v1/embeddings (False: no such route, 404)
    responses: bool = True  # serves /v1/responses itself, as vLLM (False: 404, chat completions only)
    transcriptions: bool = True  # serves /v1/audio/transcriptions (False: 404, a text-only engine)
    embedding_dimensions: int = 8  # floats per vector unless the request asks for ``dimensions``

    def __post_init__(self) -> None:
        for name in ("chunks", "chunk_size", "cached_tokens", "reasoning_tokens"):
            if getattr(self, name) < 0:
                raise ConfigError(f"fake engine {name} must be >= 0, got {getattr(self, name)}")
        if self.embedding_dimensions < 1:
            raise ConfigError(
                f"fake engine embedding_dimensions must be >= 1, got {self.embedding_dimensions}"
            )
        if self.context_length is not None and self.context_length < 1:
            raise ConfigError(f"fake engine context_length must be >= 1, got {self.context_length}")
        if self.delay_ms < 0 or self.first_delay_ms < 0:
            raise ConfigError("fake engine delays must be >= 0 ms")
        if self.fail_status is not None and not 400 <= self.fail_status <= 599:
            raise ConfigError(
                f"fake engine fail_status must be an HTTP error status (400-599), got {self.fail_status}"
            )
        if not 400 <= self.error_status <= 599:
            raise ConfigError(
                f"fake engine error_status must be an HTTP error status (400-599), got {self.error_status}"
            )

    def replace(self, changes: dict[str, Any]) -> FakeEngineConfig:
        """A copy with ``changes`` applied; unknown field names are a `ConfigError`."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown fake engine setting(s) {unknown}; known: {sorted(known)}")
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(f"bad fake engine setting: {exc}") from exc


def model_entry(config: FakeEngineConfig) -> dict[str, Any]:
    """The fake engine's one `/v1/models` entry (with ``max_model_len`` when it has a context length)."""
    entry: dict[str, Any] = {"id": config.model, "object": "model", "created": 0, "owned_by": "cocoon-fake"}
    if config.context_length is not None:
        entry["max_model_len"] = config.context_length
    return entry


@dataclass(frozen=True, slots=True)
class FakeAnswer:
    """The planned answer: text pieces (one per chunk/token), finish reason and usage."""

    pieces: tuple[str, ...]
    finish_reason: str
    usage: Usage
    choices: int = 1
    """How many choices carry these pieces (the request's ``n``)."""
    tool: str | None = None
    """The name of the tool called (the pieces are then its arguments), or None for a text answer."""
    logprobs: int | None = None
    """Top alternatives per token when the request asks for log-probabilities, else None."""

    @property
    def plain(self) -> bool:
        """Whether this is a plain text answer (no tool call, no log-probabilities)."""
        return self.tool is None and self.logprobs is None

    @property
    def text(self) -> str:
        """The whole answer text."""
        return "".join(self.pieces)


def _text_of(content: Any) -> str:
    """The text of a message content: a string, or the ``text`` parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def prompt_texts(body: dict[str, Any]) -> list[str]:
    """The prompt's texts in order: one per chat message, or the completion prompt(s)."""
    if "messages" in body:
        return [_text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict)]
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        # A list of prompts, or of token ids (ints, or lists of ints): render each one as text.
        return [
            p if isinstance(p, str) else " ".join(map(str, p)) if isinstance(p, list) else str(p)
            for p in prompt
        ]
    return [str(prompt)]


def requested_cap(body: dict[str, Any]) -> int | None:
    """The request's generation cap (``max_completion_tokens`` wins over ``max_tokens``), if any."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is not None:
            return int(value)
    return None


def piece(word: str, chunk_size: int) -> str:
    """One chunk's text for ``word``: the word and a space, or that repeated to ``chunk_size`` chars."""
    unit = word + " "
    if chunk_size <= 0:
        return unit
    return (unit * (chunk_size // len(unit) + 1))[:chunk_size]


def _generated(
    body: dict[str, Any], texts: list[str], config: FakeEngineConfig
) -> tuple[str | None, tuple[str, ...], int, str]:
    """The tool called (or None), the pieces, the completion tokens per choice and the finish reason."""
    last = texts[-1] if texts else ""
    words = last.split() or ["fake"]
    cap = requested_cap(body)
    count = config.chunks if cap is None else min(config.chunks, cap)
    distinct = [piece(w, config.chunk_size) for w in words]
    whole = tuple(distinct[i % len(distinct)] for i in range(config.chunks))
    tool, json_text = json_answer(body, last, whole)
    if json_text is None:
        return None, whole[:count], count, "length" if count < config.chunks else "stop"
    pieces, tokens, cut = json_pieces(json_text, cap, config.chunks)
    return tool, pieces, tokens, "length" if cut else "stop" if tool is None else "tool_calls"


def plan_answer(body: dict[str, Any], config: FakeEngineConfig) -> FakeAnswer:
    """The deterministic answer to ``body`` under ``config`` (see the module docstring)."""
    texts = prompt_texts(body)
    tool, pieces, per_choice, finish_reason = _generated(body, texts, config)
    prompt_chars = len("\n".join(texts))
    prompt_tokens = max(1, -(-prompt_chars // 4)) if config.prompt_tokens is None else config.prompt_tokens
    choices = body.get("n") or 1
    if config.completion_tokens is not None:
        per_choice = config.completion_tokens
    completion = choices * per_choice
    usage = Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        cached_tokens=min(config.cached_tokens, prompt_tokens),
        reasoning_tokens=min(config.reasoning_tokens, completion),
    )
    logprobs = requested_top(body, chat="messages" in body)
    return FakeAnswer(pieces, finish_reason, usage, choices, tool=tool, logprobs=logprobs)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an engine refuses a request: HTTP status and the OpenAI error fields."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None


def check_request(body: Any, kind: str, model: str) -> Rejection | None:
    """The refusal a real engine would give ``body`` (a ``CHAT`` or ``COMPLETION`` request), or None."""
    if not isinstance(body, dict):
        return Rejection(400, "request body must be a JSON object")
    if not isinstance(body.get("model"), str):
        return Rejection(400, "'model' is required and must be a string", "model")
    if body["model"] != model:
        return Rejection(404, f"The model `{body['model']}` does not exist.", "model", "model_not_found")
    if kind == CHAT and (not isinstance(body.get("messages"), list) or not body["messages"]):
        return Rejection(400, "'messages' must be a non-empty list", "messages")
    if kind == COMPLETION and not isinstance(body.get("prompt"), str | list):
        return Rejection(400, "'prompt' is required (a string or a list)", "prompt")
    if kind == EMBEDDING:
        return None  # its own fields: `cocoon.engine.fake_embeddings.check_embedding`
    for key in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return Rejection(400, f"'{key}' must be an integer >= 1, got {value!r}", key)
    if not isinstance(body.get("stream", False), bool | None):
        return Rejection(400, "'stream' must be a boolean", "stream")
    chat = kind == CHAT
    refusal = (
        check_logprobs(body, chat) or (check_tools(body) if chat else None) or check_response_format(body)
    )
    return None if refusal is None else Rejection(400, *refusal)
