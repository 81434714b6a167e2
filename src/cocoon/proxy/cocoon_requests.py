"""A COCOON client's ``client.runQueryEx`` checked and turned into our `RunQuery` (pure).

Every field is checked the way the reference proxy does, or stricter: a model name, a price ceiling
and token budget that are not negative, a finite positive timeout, a config version this proxy has,
no encrypted fields (the reference's ``public_key`` field encryption is not served here; an all-zero
key, which the reference client sends at protocol 3 and above, means none). The query
must be a boxed ``http.request`` ``POST`` to ``/v1/chat/completions`` or ``/v1/completions`` (the
model list is ``client.getWorkerTypesV2``), whose JSON body passes the same validation as a request to
our own client daemon (`cocoon.api.validation`), names the same model, and is sent on as the
validated engine body. As the reference client does, ``max_tokens`` of the query is the body's
generation cap when the body states none; the reservation then follows the validated body (every
choice may generate its cap), exactly as for our own clients.

Anything wrong is a `RequestError` (status, code, message) that the port answers with
``client.queryAnswerErrorEx``; nothing is reserved or charged for it.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from cocoon.api.validation import DEFAULT_LIMITS, Limits, ValidatedRequest, generates_tokens, validate_request
from cocoon.errors import CocoonError, PaymentError, RequestError
from cocoon.payments.pricing import completion_budget
from cocoon.tl.codec import decode_as
from cocoon.tl.types import ClientRunQueryEx, HttpRequest
from cocoon.wire.messages import RunQuery
from cocoon.wire.timeouts import inner_timeout_ms

SERVED_PATHS = frozenset({"/v1/chat/completions", "/v1/completions"})
"""What a COCOON client may ask through ``client.runQueryEx`` (the reference's list, minus audio)."""
MAX_TIMEOUT_S = 3600.0
"""The longest ``timeout`` accepted (the reference client's default is 120 s)."""
INT32_MAX = 2**31 - 1


def _bad(
    message: str, *, status: int = 400, code: str = "invalid_request", param: str | None = None
) -> RequestError:
    return RequestError(message, status=status, code=code, param=param)


def check_fields(query: ClientRunQueryEx, active_config_version: int | None) -> None:
    """The checks on the fields beside the HTTP request; `RequestError` naming the first one wrong.
    ``active_config_version``: the root's version this proxy runs (None: no root, nothing to compare)."""
    if not query.model_name:
        raise _bad("model_name is empty: name the model to run (see client.getWorkerTypesV2)", param="model")
    if query.max_coefficient < 0:
        raise _bad(f"max_coefficient {query.max_coefficient} is negative", param="max_coefficient")
    if query.max_tokens < 0:
        raise _bad(f"max_tokens {query.max_tokens} is negative", param="max_tokens")
    if not (math.isfinite(query.timeout) and 0 < query.timeout <= MAX_TIMEOUT_S):
        raise _bad(
            f"timeout {query.timeout} is not a number of seconds within (0, {MAX_TIMEOUT_S:g}]",
            param="timeout",
        )
    if active_config_version is not None and query.min_config_version > active_config_version:
        raise _bad(
            f"active config version is too low: this proxy runs config version {active_config_version}, the "
            f"request needs {query.min_config_version}",
            status=503,
            code="config_version_too_low",
        )
    # The reference client at protocol >= 3 always sets the field: all zeros when nothing is encrypted.
    if query.public_key is not None and any(query.public_key):
        raise _bad(
            "encrypted requests (public_key) are not served by this proxy; send the request in plaintext",
            code="encryption_unsupported",
        )


def request_path(url: str) -> str:
    """The path of an ``http.request`` url (``/v1/...``, or a full ``http(s)://host/v1/...`` url)."""
    return urlsplit(url).path if "://" in url else url.split("?", 1)[0]


def read_http_request(query: ClientRunQueryEx) -> tuple[str, HttpRequest]:
    """The query's ``http.request`` and its path; `RequestError` for anything else."""
    try:
        request = decode_as(query.query, HttpRequest)
    except CocoonError as exc:
        raise _bad(f"the query is not a boxed http.request: {exc}", param="query") from exc
    path = request_path(request.url)
    if request.method.upper() != "POST" or path not in SERVED_PATHS:
        raise _bad(
            f"unsupported method: {request.method} {path}; this port serves POST "
            f"{' and POST '.join(sorted(SERVED_PATHS))} (the models are listed by client.getWorkerTypesV2)",
            status=404,
            code="unknown_url",
        )
    return path, request


def validated_body(query: ClientRunQueryEx, path: str, payload: bytes, limits: Limits) -> ValidatedRequest:
    """The body validated as our client daemon validates it, ``max_tokens`` of the query as its
    default cap; it must name ``model_name``."""
    if query.max_tokens > 0:
        limits = Limits(
            max_body_bytes=limits.max_body_bytes,
            max_form_bytes=limits.max_form_bytes,
            default_max_tokens=min(query.max_tokens, limits.max_tokens_limit),
            max_tokens_limit=limits.max_tokens_limit,
        )
    validated = validate_request(path, payload, limits)
    if validated.model != query.model_name:
        raise _bad(
            f"the body's model {validated.model!r} differs from the query's model_name {query.model_name!r}",
            param="model",
        )
    return validated


def run_query_of(
    query: ClientRunQueryEx,
    request_id: int,
    active_config_version: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> RunQuery:
    """Our `RunQuery` (id ``request_id``) for a checked ``client.runQueryEx`` (see the module docstring)."""
    check_fields(query, active_config_version)
    path, http_request = read_http_request(query)
    validated = validated_body(query, path, http_request.payload, limits)
    try:
        budget = completion_budget(validated.max_tokens, validated.choices) if generates_tokens(path) else 0
    except PaymentError as exc:
        raise _bad(str(exc), param="max_tokens") from exc
    return RunQuery(
        request_id=request_id,
        model=validated.model,
        body=validated.engine_body_bytes(),
        max_coefficient=min(query.max_coefficient, INT32_MAX),
        max_tokens=budget,
        timeout_ms=inner_timeout_ms(query.timeout * 1000),
        path=path,
        debug=bool(query.enable_debug),
        client_request_id=query.request_id.hex(),
    )
