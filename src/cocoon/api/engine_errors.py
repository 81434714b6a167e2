"""What an engine's error answer means: the request's fault, a parameter it cannot serve, or a failure.

Engines do not agree on statuses. vLLM answers a parameter it does not support with 400
``BadRequestError`` (and 501 ``NotImplementedError`` for whole features); llama.cpp's C++ server with
501 ``not_supported_error``; llama-cpp-python's server (the built-in engine) with **500**
``internal_server_error`` carrying the library's ``ValueError``, e.g. "logprobs is not supported for
models created with logits_all=False", and also with 500 for a field its own request model refused.
Retrying such a 500 elsewhere cannot help, and the caller must learn it is its request. So the
verdict comes from a table of rules on (status, error type, message), first match wins; anything no
rule claims is the engine failing if it is not a 4xx, and the request's fault if it is.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass


class EngineErrorClass(enum.Enum):
    """The three things an engine's error answer can mean."""

    REQUEST_ERROR = "request-error"
    """The engine blames the request: show its status (a 4xx) and message; never retry."""
    UNSUPPORTED = "unsupported"
    """The engine cannot serve something the request asks for: a 400; never retry."""
    ENGINE_FAILURE = "engine-failure"
    """The engine failed: another worker's engine may serve the same request."""


@dataclass(frozen=True)
class EngineVerdict:
    """The class of one engine error, the HTTP status the caller should see and what the engine said
    (`engine_status` is the status the engine answered with)."""

    kind: EngineErrorClass
    status: int
    message: str
    param: str | None = None
    engine_status: int = 0

    @property
    def retryable(self) -> bool:
        """Whether another worker may succeed where this engine failed."""
        return self.kind is EngineErrorClass.ENGINE_FAILURE

    @property
    def passes_through(self) -> bool:
        """Whether the engine's own answer (a 4xx with its body) is already what the caller should see."""
        return self.kind is EngineErrorClass.REQUEST_ERROR and self.engine_status in _CLIENT


@dataclass(frozen=True)
class _Rule:
    """One line of the table: ``kind`` when status, type and message all match (empty: any)."""

    kind: EngineErrorClass
    statuses: range
    types: frozenset[str] = frozenset()
    message: re.Pattern[str] | None = None
    """Searched in the engine's message; a ``param`` group names the parameter at fault."""


_ANY_ERROR = range(400, 600)
_CLIENT = range(400, 500)
_SERVER = range(500, 600)
# "logprobs is not supported for ...", "`best_of` is not supported ...": the parameter comes first.
_NAMED_UNSUPPORTED = re.compile(
    r"^[`'\"]?(?P<param>[A-Za-z_][A-Za-z0-9_.]*)[`'\"]? (?:is|are) not supported\b"
)

_RULES: tuple[_Rule, ...] = (
    # llama.cpp's C++ server and vLLM: a feature this engine or model does not have.
    _Rule(
        EngineErrorClass.UNSUPPORTED, _ANY_ERROR, frozenset({"not_supported_error", "NotImplementedError"})
    ),
    _Rule(EngineErrorClass.UNSUPPORTED, range(501, 502)),
    # llama-cpp-python: the library's ValueError for a sampling feature the model was not loaded for,
    # answered 500. Only the anchored "<param> is not supported" form: a 500 that merely mentions
    # "not supported" (a CUDA operation, say) is the engine failing.
    _Rule(EngineErrorClass.UNSUPPORTED, _SERVER, message=_NAMED_UNSUPPORTED),
    # llama-cpp-python: its pydantic request model allows fewer values than OpenAI for a field the
    # network already checked (``response_format`` of type ``json_schema``), answered 500.
    _Rule(
        EngineErrorClass.UNSUPPORTED,
        _SERVER,
        message=re.compile(
            r"validation errors?\b.*?'type': 'literal_error', "
            r"'loc': \('body', '(?P<param>[A-Za-z_][A-Za-z0-9_]*)'",
            re.S,
        ),
    ),
    # llama-cpp-python: its pydantic request model refused a field inside the handler, answered 500.
    _Rule(
        EngineErrorClass.REQUEST_ERROR,
        _SERVER,
        message=re.compile(
            r"validation errors?\b.*?'loc': \('body', '(?P<param>[A-Za-z_][A-Za-z0-9_]*)'", re.S
        ),
    ),
    # vLLM: 400 BadRequestError for a parameter it does not support (any 4xx naming one).
    _Rule(EngineErrorClass.UNSUPPORTED, _CLIENT, message=_NAMED_UNSUPPORTED),
    _Rule(
        EngineErrorClass.UNSUPPORTED, _CLIENT, message=re.compile(r"\b(?:not supported|unsupported)\b", re.I)
    ),
    # Any other 4xx: the engine blames the request (context too long, bad value, unknown model).
    _Rule(EngineErrorClass.REQUEST_ERROR, _CLIENT),
)


def classify_engine_error(status: int, error: Mapping[str, object]) -> EngineVerdict:
    """The verdict on an engine's error answer: its HTTP ``status`` and OpenAI-shaped ``error`` object
    (``message``, ``type``, ``param``; as `cocoon.engine.stream.error_from_body` extracts it)."""
    message = _words(str(error.get("message") or "no message"))
    error_type = str(error.get("type") or "")
    named = error.get("param")
    for rule in _RULES:
        if status not in rule.statuses or (rule.types and error_type not in rule.types):
            continue
        found = rule.message.search(message) if rule.message else None
        if rule.message is not None and found is None:
            continue
        param = named if isinstance(named, str) and named else _param(found)
        # The engine's own 4xx stands; a parameter it cannot serve, or a 5xx blaming the request: 400.
        shown = status if status in _CLIENT and rule.kind is EngineErrorClass.REQUEST_ERROR else 400
        return EngineVerdict(rule.kind, shown, message, param, status)
    return EngineVerdict(EngineErrorClass.ENGINE_FAILURE, 502, message, None, status)


def _words(message: str) -> str:
    """The engine's message without the traceback llama-cpp-python appends (paths of the engine host)."""
    return message.split('\n\n  File "', 1)[0].strip()


def _param(found: re.Match[str] | None) -> str | None:
    if found is None or "param" not in found.re.groupindex:
        return None
    return found.group("param")
