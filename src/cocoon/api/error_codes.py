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

# --- end-to-end encryption (spec/e2e.md) -------------------------------------------------------------
E2E_KEY_UNKNOWN = "e2e_key_unknown"
"""The worker holds none of the keys the envelope is sealed to (rotated away): another listed worker
may; the client refreshes its candidates (HTTP 503)."""
E2E_HEADER_MISMATCH = "e2e_header_mismatch"
"""The routing fields of the request differ from its envelope's header (HTTP 400)."""
E2E_STALE = "e2e_stale"
"""The envelope was sealed too long ago, or too far ahead, by the worker's clock (HTTP 400): another
worker may take it (the clock of the one refusing may be off)."""
E2E_REPLAY = "e2e_replay"
"""The envelope was already served (HTTP 400)."""
E2E_OPEN_FAILED = "e2e_open_failed"
"""The envelope's key wrap or sealed body does not open (HTTP 400)."""
E2E_BAD_ENVELOPE = "e2e_bad_envelope"
"""The envelope or its header does not decode, or is not one wrap per listed key (HTTP 400)."""
E2E_UNSUPPORTED = "e2e_unsupported"
"""The envelope's version or HPKE suite is not served (HTTP 400)."""
E2E_REROUTE = "e2e_reroute"
"""Sent by the proxy (never by a worker): no worker the request is sealed to can take it before its
first frame; the client fetches fresh candidates, seals again and resends (retriable)."""
E2E_REROUTE_STATUS = 503
E2E_UNAVAILABLE = "e2e_unavailable"
"""The client's own refusal when end-to-end encryption is required and no verified candidate has a
key (HTTP 503)."""
E2E_UNAVAILABLE_STATUS = 503


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
    # the envelope itself (spec/e2e.md): every worker it is sealed to would refuse it the same way
    E2E_HEADER_MISMATCH: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    E2E_REPLAY: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    E2E_OPEN_FAILED: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    E2E_BAD_ENVELOPE: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    E2E_UNSUPPORTED: ErrorCode(Fault.REQUEST, "invalid_request_error"),
    # this worker cannot serve now
    "engine_down": ErrorCode(Fault.UNAVAILABLE, "engine_down"),
    "no_capacity": ErrorCode(Fault.UNAVAILABLE, "no_capacity"),
    "unsupported": ErrorCode(Fault.UNAVAILABLE, "unsupported"),  # the node serves no inference at all
    "internal": ErrorCode(Fault.UNAVAILABLE, "internal"),  # its handler crashed (see rpc_serve)
    "unfinished": ErrorCode(Fault.UNAVAILABLE, "unfinished"),
    E2E_KEY_UNKNOWN: ErrorCode(Fault.UNAVAILABLE, E2E_KEY_UNKNOWN),  # another listed worker may hold one
    # stale by this worker's clock: a worker whose clock is off refuses every envelope, and another
    # listed worker (or a reseal) serves it; the caller is told only if every try said so
    E2E_STALE: ErrorCode(Fault.UNAVAILABLE, "invalid_request_error"),
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
