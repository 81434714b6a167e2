"""The engine-error classifier on recorded bodies: llama-cpp-python (the built-in engine) and vLLM.

The llama-cpp-python bodies were answered by `cocoon engine serve` (llama-cpp-python's server with
SmolLM2); the vLLM ones follow its documented `ErrorResponse` shape (``BadRequestError`` 400 for what
it does not support, ``NotImplementedError`` 501, ``InternalServerError`` 500), and llama.cpp's C++
server answers 501 ``not_supported_error``. Each goes through the same parser the engine client uses.
"""

from __future__ import annotations

import json

import pytest

from cocoon.api.engine_errors import EngineErrorClass, EngineVerdict, classify_engine_error
from cocoon.api.error_codes import Fault, openai_type, worker_fault
from cocoon.engine.stream import error_from_body

REQUEST, UNSUPPORTED, FAILURE = (
    EngineErrorClass.REQUEST_ERROR,
    EngineErrorClass.UNSUPPORTED,
    EngineErrorClass.ENGINE_FAILURE,
)


def verdict(status: int, body: object) -> EngineVerdict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    error = error_from_body(status, raw, "http://engine")
    return classify_engine_error(error.status, error.error)


def openai_error(
    message: str, type_: str, param: str | None = None, code: object = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --- llama-cpp-python, recorded ------------------------------------------------------------------

LLAMA_LOGPROBS = openai_error(
    "logprobs is not supported for models created with logits_all=False", "internal_server_error"
)
LLAMA_VALIDATION = openai_error(
    "1 validation error:\n  {'type': 'float_parsing', 'loc': ('body', 'temperature'), 'msg': 'Input should "
    "be a valid number, unable to parse string as a number', 'input': 'x'}\n\n  File \"/venv/lib/python3.11/"
    'site-packages/llama_cpp/server/app.py", line 376, in create_chat_completion\n'
    "    POST /v1/chat/completions",
    "internal_server_error",
)
LLAMA_JSON_SCHEMA = openai_error(
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': "
    "\"Input should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or "
    '\'json_object\'"}}\n\n  File "/venv/lib/python3.11/site-packages/llama_cpp/server/app.py", line 376',
    "internal_server_error",
)
LLAMA_CONTEXT = openai_error(
    "This model's maximum context length is 2048 tokens. However, you requested 3031 tokens (31 in the "
    "messages, 3000 in the completion). Please reduce the length of the messages or completion.",
    "invalid_request_error",
    "messages",
    "context_length_exceeded",
)
LLAMA_CRASH = openai_error("llama_decode returned -3", "internal_server_error")


def test_llama_cpp_python_answers_logprobs_it_cannot_give_with_a_500_that_is_unsupported() -> None:
    found = verdict(500, LLAMA_LOGPROBS)
    message = "logprobs is not supported for models created with logits_all=False"
    assert found == EngineVerdict(UNSUPPORTED, 400, message, "logprobs", engine_status=500)
    assert not found.retryable and not found.passes_through


def test_llama_cpp_python_validation_500_is_the_requests_fault_naming_the_field() -> None:
    found = verdict(500, LLAMA_VALIDATION)
    assert (found.kind, found.status, found.param) == (REQUEST, 400, "temperature")
    assert not found.retryable and not found.passes_through  # its 500 must not reach the caller
    assert "File " not in found.message and found.message.endswith("'input': 'x'}")  # no traceback


def test_llama_cpp_python_refusing_a_value_openai_allows_is_unsupported() -> None:
    """The network accepted ``response_format: json_schema``; the engine's model allows fewer values."""
    found = verdict(500, LLAMA_JSON_SCHEMA)
    assert (found.kind, found.status, found.param) == (UNSUPPORTED, 400, "response_format")
    assert not found.retryable and "Input should be 'text' or 'json_object'" in found.message


def test_llama_cpp_python_context_overflow_is_its_own_400_passed_through() -> None:
    found = verdict(400, LLAMA_CONTEXT)
    assert (found.kind, found.status, found.param) == (REQUEST, 400, "messages")
    assert found.passes_through


def test_a_llama_cpp_python_500_of_another_kind_is_an_engine_failure() -> None:
    found = verdict(500, LLAMA_CRASH)
    assert (found.kind, found.status, found.param) == (FAILURE, 502, None)
    assert found.retryable and found.message == "llama_decode returned -3"


# --- vLLM's documented shapes, llama.cpp's C++ server --------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # the current envelope and the older flat one ({"object": "error", ...})
        (
            400,
            openai_error("best_of is not supported in vLLM V1", "BadRequestError", code=400),
            (UNSUPPORTED, 400, "best_of"),
        ),
        (
            400,
            {
                "object": "error",
                "message": "`top_logprobs` is not supported with beam search",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            (UNSUPPORTED, 400, "top_logprobs"),
        ),
        (
            400,
            openai_error("Structured outputs are unsupported with this backend", "BadRequestError"),
            (UNSUPPORTED, 400, None),
        ),
        (
            400,
            openai_error(
                "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",
                "BadRequestError",
                code=400,
            ),
            (REQUEST, 400, None),
        ),
        (
            404,
            openai_error("The model `nope` does not exist.", "NotFoundError", "model", 404),
            (REQUEST, 404, "model"),
        ),
        (
            501,
            openai_error(
                "OpenAIServingChat does not support non-streaming requests", "NotImplementedError", code=501
            ),
            (UNSUPPORTED, 400, None),
        ),
        (
            500,
            openai_error(
                "CUDA error: operation not supported on this device", "InternalServerError", code=500
            ),
            (FAILURE, 502, None),
        ),
        (503, openai_error("Loading model", "unavailable_error", code=503), (FAILURE, 502, None)),
        (
            501,
            openai_error(
                "This server does not support embeddings. Start it with `--embeddings`",
                "not_supported_error",
                code=501,
            ),
            (UNSUPPORTED, 400, None),
        ),
        (429, b"Too Many Requests", (REQUEST, 429, None)),
        (502, b"<html>Bad Gateway</html>", (FAILURE, 502, None)),
    ],
)
def test_vllm_and_llama_cpp_error_shapes(
    status: int, body: object, expected: tuple[object, int, str | None]
) -> None:
    found = verdict(status, body)
    assert (found.kind, found.status, found.param) == expected


# --- the codes a worker sends, as the proxy reads them ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "fault"),
    [
        (400, "unsupported_parameter", Fault.REQUEST),
        (400, "invalid_request_error", Fault.REQUEST),
        (404, "model_not_found", Fault.REQUEST),
        (503, "no_capacity", Fault.UNAVAILABLE),
        (503, "engine_down", Fault.UNAVAILABLE),
        (502, "upstream_error", Fault.ENGINE),
        (400, "made_up", Fault.ENGINE),  # a code the table does not know: never the caller's fault
        (502, "unsupported_parameter", Fault.ENGINE),  # a request code with a failure's status
        (200, "invalid_request_error", Fault.ENGINE),
    ],
)
def test_a_worker_code_is_trusted_only_as_far_as_the_table_goes(status: int, code: str, fault: Fault) -> None:
    assert worker_fault(status, code) is fault


def test_the_openai_type_of_a_code() -> None:
    assert openai_type("unsupported_parameter") == "invalid_request_error"
    assert openai_type("no_capacity") == "no_capacity"  # the network's own codes are their own type
    assert openai_type("price_too_low") == "price_too_low"
