"""The error codes a worker may send in an `AnswerError`, who is at fault for each, and its OpenAI type.

One table, read by the worker (which codes to send), the proxy (what a code allows it to do: pass
the error on, or try another worker) and the client (the OpenAI ``error.type`` it renders). The
proxy trusts a worker only as far as this table goes: a code that is not in it, or a request-fault
code with a status that is not 4xx, is an upstream failure (a worker must not be able to make the
client see an arbitrary status or blame the caller for its own failure).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Fault(enum.Enum):
    """Whose fault an error is, which decides what the proxy does with it before the first chunk."""

    REQUEST = "request"
    """The request itself: every worker would refuse it the same way; passed on, never retried."""
    UNAVAILABLE = "unavailable"
    """This worker cannot take it now (busy, engine down, not serving): another worker may."""
    ENGINE = "engine"
    """The worker's engine failed on this request: retried at most once on another worker."""


UPSTREAM_ERROR = "upstream_error"
"""A worker or its engine failed (spec/openai-api.md: 502)."""
UNSUPPORTED_PARAMETER = "unsupported_parameter"
"""The engine cannot serve a parameter of the request (OpenAI's own code for this; HTTP 400)."""
INVALID_REQUEST = "invalid_request_error"
"""The request is malformed (the worker's validation, or an engine that said so with a 5xx)."""

ENDPOINT_NOT_SERVED = "endpoint_not_served"
"""No worker for the model serves the request's endpoint (e.g. ``/v1/embeddings``; HTTP 404)."""


@dataclass(frozen=True)
class ErrorCode:
    """One code: whose fault it is and the OpenAI ``error.type`` the client shows for it."""

    fault: Fault
    openai_type: str


WORKER_CODES: dict[str, ErrorCode] = {
    # the request's fault: the worker's validation, or its engine's refusal classified
    INVALID_REQUEST: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    UNSUPPORTED_PARAMETER: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    "unknown_url": ErrorCode(Fault.REQUEST, "invalid_request_error"),
    "request_too_large": ErrorCode(Fault.REQUEST, "invalid_request_error"),
    "model_not_found": ErrorCode(Fault.REQUEST, "model_not_found"),
    ENDPOINT_NOT_SERVED: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    # this worker cannot serve now
    "engine_down": ErrorCode(Fault.UNAVAILABLE, "engine_down"),
    "no_capacity": ErrorCode(Fault.UNAVAILABLE, "no_capacity"),
    "unsupported": ErrorCode(Fault.UNAVAILABLE, "unsupported"),  # the node serves no inference at all
    "internal": ErrorCode(Fault.UNAVAILABLE, "internal"),  # its handler crashed (see rpc_serve)
    "unfinished": ErrorCode(Fault.UNAVAILABLE, "unfinished"),
    # its engine failed on this request
    UPSTREAM_ERROR: ErrorCode(Fault.ENGINE, UPSTREAM_ERROR),
}


def worker_fault(status: int, code: str) -> Fault:
    """What a worker's `AnswerError` (``status``, ``code``) means, trusting only what the table allows.

    An unknown code, or a request-fault code whose status is not a 4xx, counts as the engine failing
    (an upstream failure): never passed on as the caller's fault.
    """
    known = WORKER_CODES.get(code)
    if known is None:
        return Fault.ENGINE
    if known.fault is Fault.REQUEST and not 400 <= status < 500:
        return Fault.ENGINE
    return known.fault


def openai_type(code: str) -> str:
    """The OpenAI ``error.type`` for a network error code (the code itself when the table has none)."""
    known = WORKER_CODES.get(code)
    return known.openai_type if known else code
