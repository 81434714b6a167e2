"""The fake engine's routes: which path answers what under a config, and the pieces of each answer
(pure). The HTTP fake engine (`cocoon.engine.fake`) and `MemoryEngine` both answer through this, so
they stay byte-identical.

Generating routes (chat, completions, responses) plan an answer with `plan_answer` (a Responses body
is planned as the chat body it translates to) and render it with a stream format (`StreamFormat`, or
`ResponsesFormat`) or as a whole body; embeddings and transcriptions answer whole.
"""

from __future__ import annotations

from typing import Any

from cocoon.engine.fake_answer import (
    CHAT,
    COMPLETION,
    EMBEDDING,
    FakeAnswer,
    FakeEngineConfig,
    Rejection,
    check_request,
    plan_answer,
)
from cocoon.engine.fake_embeddings import check_embedding
from cocoon.engine.fake_format import StreamFormat, full_response
from cocoon.engine.fake_responses import RESPONSE, ResponsesFormat, chat_body, response_body
from cocoon.engine.fake_transcription import TRANSCRIPTION

ROUTES = {
    "/v1/chat/completions": CHAT,
    "/v1/completions": COMPLETION,
    "/v1/embeddings": EMBEDDING,
    "/v1/responses": RESPONSE,
    "/v1/audio/transcriptions": TRANSCRIPTION,
}
"""Every POST route of the fake engine and the kind of answer it gives."""
_SWITCHES = {EMBEDDING: "embeddings", RESPONSE: "responses", TRANSCRIPTION: "transcriptions"}
"""The config flag that turns a route off (an engine without it answers 404)."""
_ID_PREFIX = {CHAT: "chatcmpl-", RESPONSE: "resp_"}

Format = StreamFormat | ResponsesFormat


def route_kind(path: str, config: FakeEngineConfig) -> str | None:
    """What ``path`` answers under ``config`` (None: no such route)."""
    kind = ROUTES.get(path)
    switch = _SWITCHES.get(kind or "")
    return None if kind is None or (switch and not getattr(config, switch)) else kind


def refusal(kind: str, body: Any, model: str) -> Rejection | None:
    """How a real engine would refuse the JSON ``body`` of a ``kind`` request, or None."""
    refused = check_request(body, kind, model)
    if refused is not None:
        return refused
    if kind == EMBEDDING:
        return check_embedding(body)
    if kind == RESPONSE:  # what its chat translation would be refused for
        chat = chat_body(body)
        return chat if isinstance(chat, Rejection) else check_request(chat, CHAT, model)
    return None


def plan(kind: str, body: dict[str, Any], config: FakeEngineConfig) -> FakeAnswer:
    """The planned answer of a generating request (a Responses body as its chat translation)."""
    chat = chat_body(body) if kind == RESPONSE else body
    assert not isinstance(chat, Rejection), "refusal() refuses it first"
    return plan_answer(chat, config)


def answer_id(kind: str, source: str, seq: int) -> str:
    """A response id in OpenAI's style for the ``seq``-th answer of the engine named ``source``."""
    return f"{_ID_PREFIX.get(kind, 'cmpl-')}{source}-{seq}"


def stream_format(
    kind: str, body: dict[str, Any], answer: FakeAnswer, *, request_id: str, model: str, created: int
) -> Format:
    """The events of a streamed answer (``include_usage`` as the body asks; a Responses stream always
    carries its usage)."""
    if kind == RESPONSE:
        return ResponsesFormat(body, answer, response_id=request_id, model=model, created=created)
    options = body.get("stream_options")
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return StreamFormat(
        kind, answer, request_id=request_id, model=model, created=created, include_usage=include_usage
    )


def whole_body(
    kind: str, body: dict[str, Any], answer: FakeAnswer, *, request_id: str, model: str, created: int
) -> bytes:
    """The JSON body of a whole answer."""
    if kind == RESPONSE:
        return response_body(body, answer, response_id=request_id, model=model, created=created)
    return full_response(kind, answer, request_id=request_id, model=model, created=created)
