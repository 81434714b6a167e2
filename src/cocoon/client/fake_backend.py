"""`FakeBackend`: the client's `InferenceBackend` without a network, for tests and for trying the API.

Each request is answered by the next queued `Script`, or, when none is queued, by a small echo
answer of the right shape (streamed or not, chat or legacy completion) with a usage and a cost, so
``make_client_app(FakeBackend())`` is an OpenAI-compatible server that needs no proxy. A script is a
list of steps: `AnswerPart`s are yielded as they are; a `Gate` pauses the answer until the test
opens it (or the reader is cancelled). A script may also be a function of the request and its id
that returns the steps (to name the id, say in a signed receipt), or a `RequestError` that `run`
raises.
Every request, model-list query and cancel is recorded, and `cancelled` is set at the first cancel.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cocoon.api.validation import ValidatedRequest
from cocoon.errors import RequestError
from cocoon.usage import Usage
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerHead, AnswerPart
from cocoon.wire.sse import DONE_EVENT, encode_event

if TYPE_CHECKING:
    from cocoon.client.backend import InferenceBackend

FAKE_MODEL_ID = "fake-model@1:fake"
"""The one model the fake backend lists (asked for by its short name ``fake-model`` too)."""
FAKE_REPLY = "This answer comes from the fake backend: no network was asked."
FAKE_PRICE_NANO = 1_000
"""nanoTON per token the fake backend charges (prompt and completion alike)."""


@dataclass
class Gate:
    """A pause in a script: the answer waits at this step until `opened` is set.

    `reached` is set when the answer gets here, so a test can act at exactly that point.
    """

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)


Step = AnswerPart | Gate
Script = list[Step] | Callable[[ValidatedRequest, int], list[Step]] | RequestError


class ScriptedAnswer:
    """One scripted answer; `cancel` is recorded on the backend."""

    def __init__(self, backend: FakeBackend, steps: list[Step]) -> None:
        self._backend = backend
        self._steps = steps

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        for step in self._steps:
            if isinstance(step, Gate):
                step.reached.set()
                await step.opened.wait()
            else:
                yield step

    async def cancel(self, reason: str) -> None:
        self._backend.cancels.append(reason)
        self._backend.cancelled.set()


class FakeBackend:
    """Answers from `scripts` (in order), then with `echo_answer`; records requests and cancels."""

    def __init__(self, scripts: Iterable[Script] = (), *, models: list[dict[str, Any]] | None = None) -> None:
        self.scripts: deque[Script] = deque(scripts)
        self.model_list = [model_item(FAKE_MODEL_ID)] if models is None else models
        self.requests: list[tuple[ValidatedRequest, int]] = []
        self.cancels: list[str] = []
        self.cancelled = asyncio.Event()
        self.model_queries = 0

    def add(self, script: Script) -> None:
        """Queue the answer to a coming request."""
        self.scripts.append(script)

    async def run(self, request: ValidatedRequest, request_id: int) -> ScriptedAnswer:
        self.requests.append((request, request_id))
        script = self.scripts.popleft() if self.scripts else echo_answer
        if isinstance(script, RequestError):
            raise script
        return ScriptedAnswer(self, script(request, request_id) if callable(script) else script)

    async def models(self) -> list[dict[str, Any]]:
        self.model_queries += 1
        return list(self.model_list)

    async def status(self) -> dict[str, Any]:
        return {"client_id": "fake", "proxies": {}, "payments": None}


def model_item(model_id: str) -> dict[str, Any]:
    """A /v1/models entry as the real backend lists it (no workers behind it)."""
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "cocoon", "workers": []}


def echo_answer(request: ValidatedRequest, request_id: int) -> list[Step]:
    """The default answer: `FAKE_REPLY` word by word, with usage and the cost at `FAKE_PRICE_NANO`."""
    words = [word + " " for word in FAKE_REPLY.split()]
    usage = Usage(prompt_tokens=len(request.engine_body_bytes()) // 4 + 1, completion_tokens=len(words))
    tokens = usage.prompt_tokens + usage.completion_tokens
    end = AnswerEnd(
        request_id,
        usage,
        adjusted_tokens=tokens,
        cost=tokens * FAKE_PRICE_NANO,
        prompt_cost=usage.prompt_tokens * FAKE_PRICE_NANO,
    )
    chat = request.path.endswith("/chat/completions")
    head: dict[str, Any] = {"id": f"fake-{request_id:016x}", "created": 0, "model": request.model}
    openai_usage = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": tokens,
    }
    if not request.stream:
        text = "".join(words)
        choice = {"index": 0, "finish_reason": "stop"}
        choice |= {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        obj = "chat.completion" if chat else "text_completion"
        body = {**head, "object": obj, "choices": [choice], "usage": openai_usage}
        return [_head(request_id, "application/json"), AnswerChunk(request_id, _json(body)), end]
    head["object"] = "chat.completion.chunk" if chat else "text_completion"
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"content": w}} if chat else {"index": 0, "text": w}]}
        for w in words
    ]
    chunks.append({**head, "choices": [], "usage": openai_usage})  # the engine always sends usage
    events = [AnswerChunk(request_id, encode_event(_json(chunk))) for chunk in chunks]
    return [_head(request_id, "text/event-stream"), *events, AnswerChunk(request_id, DONE_EVENT), end]


def _head(request_id: int, content_type: str) -> AnswerHead:
    return AnswerHead(request_id, 200, (("content-type", content_type),))


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


if TYPE_CHECKING:  # mypy proves that FakeBackend implements the InferenceBackend protocol

    def _is_a_backend(backend: FakeBackend) -> InferenceBackend:
        return backend
