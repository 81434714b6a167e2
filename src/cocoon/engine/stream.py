"""`EngineStream`: one streamed engine answer, relayed as received and metered on the fly.

Each item it yields is the bytes of one network read, trimmed to whole SSE events (a partial event
waits for its end), so a relay never forwards half an event even if the engine dies mid-stream. The
same bytes are parsed incrementally to remember the usage chunk (``include_usage``) and to notice the
``[DONE]`` sentinel and in-stream error events.

It also counts the generated pieces it relays (`generated_in`), so a stream that breaks before the
usage chunk is still metered for what it delivered.

A Responses API stream (``/v1/responses``) has no ``[DONE]``: it ends with its ``response.completed``
or ``response.incomplete`` event, which also carries the usage; ``response.failed`` and ``error``
events are its in-stream errors.

The stream reads its body through `ResponseBody`, whichever HTTP client fetched it: the lean HTTP/1.1
transport (`cocoon.engine.http1`) for plain ``http://`` engines, aiohttp's response otherwise.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from cocoon.api.responses_answer import RESPONSE_ENDS
from cocoon.engine.generated import generated_in
from cocoon.engine.usage import usage_from_openai
from cocoon.errors import DecodeError, EngineError, EngineStatusError, EngineTimeoutError
from cocoon.usage import Usage
from cocoon.wire.sse import DONE, DONE_VALUE, SseEvent, SseParser


class _Probe(msgspec.Struct):
    """The only members of a chunk the relay looks at; the rest is skipped by the decoder."""

    usage: Any = None
    error: Any = None
    type: Any = None  # a Responses API event's type
    response: Any = None  # the response object of a Responses API lifecycle event
    message: Any = None  # a Responses API error event's message and code
    code: Any = None
    object: Any = None  # "error": vLLM's older in-stream error, its members at the top level
    param: Any = None
    choices: Any = None  # what a chat or completion chunk generated (`generated_in`)
    delta: Any = None  # what a Responses API ``*.delta`` event generated


_RESPONSE_FAILS = frozenset({"response.failed", "error"})

_probe = msgspec.json.Decoder(_Probe)


def error_from_body(status: int, raw: bytes, url: str) -> EngineStatusError:
    """An `EngineStatusError` from an engine's error answer (OpenAI, vLLM and FastAPI shapes)."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        data = None
    error: dict[str, Any] | None = None
    if isinstance(data, dict):
        if isinstance(data.get("error"), dict):
            error = data["error"]
        elif isinstance(data.get("message"), str):  # vLLM's older {"object": "error", "message": ...}
            error = {k: data.get(k) for k in ("message", "type", "param", "code")}
        elif "detail" in data:  # FastAPI's validation errors (llama-cpp-python's server)
            detail = str(data["detail"])
            error = {"message": detail, "type": "invalid_request_error", "param": None, "code": None}
    if error is None:
        text = raw[:300].decode("utf-8", "replace").strip() or "no body"
        error = {"message": text, "type": "engine_error", "param": None, "code": None}
    message = str(error.get("message") or "no message")
    return EngineStatusError(f"engine at {url} answered HTTP {status}: {message}", status=status, error=error)


class ResponseBody(Protocol):
    """An answer's body as a stream reads it, once the head said its status."""

    status: int

    async def read(self) -> bytes:
        """The bytes received since the last read (waiting for some); b"" once the body ended.

        Raises `TimeoutError` when the engine is too slow, `OSError` when the connection broke, and
        `EngineError` when the answer is malformed."""
        ...

    def release(self) -> None:
        """Done: the connection may carry another request if the body ended, else it is closed."""
        ...

    def abort(self) -> None:
        """Stop now: close the connection, so the engine sees the client go away."""
        ...


class EngineStream:
    """A streamed answer in progress; iterate it for bytes, then read `usage`."""

    def __init__(self, response: ResponseBody, url: str) -> None:
        self._resp = response
        self._url = url
        self._readany = response.read  # bytes as they arrive, b"" at the end of the body
        self._parser = SseParser()
        self._closed = False
        self._ended = False
        self._failure: EngineError | None = None  # an in-stream error, raised after the events before it
        self._response_ended = False  # a Responses API stream's last event was seen
        self.status = response.status
        self.usage: Usage | None = None
        """The usage the engine reported (set when its usage chunk has been received)."""
        self.events = 0
        """How many SSE events have been received so far."""
        self.generated = 0
        """Generated pieces relayed so far (`generated_in`): a lower bound on the completion tokens,
        what a stream that fails before the engine's usage chunk is metered by."""

    @property
    def done(self) -> bool:
        """Whether the engine ended the stream properly (``data: [DONE]``, or a Responses API stream's
        ``response.completed`` / ``response.incomplete``); an error event before its end is not."""
        return self._ended_stream and self._failure is None

    @property
    def _ended_stream(self) -> bool:
        """Whether the stream's last event came (its ``[DONE]`` even after an error event)."""
        return self._parser.done or self._response_ended

    async def __aenter__(self) -> EngineStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> EngineStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            while not self._closed and self._failure is None and not self._ended:
                try:  # read here, not in a helper coroutine: this runs once per engine event
                    data = await self._readany()
                except TimeoutError as exc:
                    raise EngineTimeoutError(
                        f"engine at {self._url} stopped sending mid-stream (timed out)"
                    ) from exc
                except OSError as exc:
                    raise EngineError(f"engine at {self._url} broke the stream mid-answer ({exc})") from exc
                out = self._relay(data) if data else self._consume(self._finish())
                if out:
                    return out
            if self._failure is not None:
                raise self._failure
            await self.aclose()
        except BaseException:
            await self.aclose()  # an error, a cancelled task or a consumer that stopped: abort the call
            raise
        raise StopAsyncIteration

    def _finish(self) -> list[SseEvent]:
        """End of body: the last events (if a lone CR ended them); an error unless [DONE] was seen."""
        self._ended = True
        events = self._parser.close()
        if not self._ended_stream:
            raise EngineError(
                f"engine at {self._url} ended the stream without [DONE]; the answer is incomplete"
            )
        return events

    def _parse(self, data: bytes) -> list[SseEvent]:
        try:
            return self._parser.feed(data)
        except DecodeError as exc:
            raise EngineError(f"engine at {self._url} sent an invalid stream: {exc}") from exc

    def _relay(self, data: bytes) -> bytes:
        """Note what the events of ``data`` say (`_note`); return the bytes to relay: whole events, up
        to an error event. The usual chunk (whole one-line ``data:`` events) is read without building
        events, and relayed as it came."""
        values = self._parser.data_values(data)
        if values is None:
            return self._consume(self._parse(data))
        for index, value in enumerate(values):
            if not self._note(value):
                return b"".join(line + b"\n\n" for line in data[:-2].split(b"\n\n")[:index])
        return data

    def _consume(self, events: list[SseEvent]) -> bytes:
        """`_note` each of ``events``; return their raw bytes for relaying, up to an error event."""
        for index, event in enumerate(events):
            if not self._note(event.data):
                return b"".join(e.raw for e in events[:index])
        if len(events) == 1:  # a paced stream: one event per read
            return events[0].raw
        return b"".join(event.raw for event in events)

    def _note(self, payload: str | bytes) -> bool:
        """Count one event and note what it says: the usage, what it generated, the end of a Responses
        API stream; False for an error event (`_failure` is set then, and it is not relayed)."""
        self.events += 1
        if payload in (DONE, DONE_VALUE):
            return True
        try:
            probe = _probe.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            try:  # bytes that are not UTF-8 read as the SSE parser reads them: bad bytes replaced
                probe = _probe.decode(text)
            except msgspec.DecodeError:
                raise EngineError(
                    f"engine at {self._url} sent an event that is not JSON: {text[:100]!r}"
                ) from exc
        if probe.usage is not None:
            self.usage = usage_from_openai(probe.usage)
        kind = probe.type
        if probe.object == "error" or probe.error is not None or kind in _RESPONSE_FAILS:
            self._failure = stream_error(_failure_of(probe), self._url)
            return False
        if kind is not None:
            self._response_event(probe)
            self.generated += generated_in(None, kind, probe.delta)
        else:  # a chat or completion chunk
            self.generated += generated_in(probe.choices)
        return True

    def _response_event(self, probe: _Probe) -> None:
        """Note the end of a Responses API stream and the usage its last event carries."""
        if probe.type in RESPONSE_ENDS:
            self._response_ended = True
            usage = probe.response.get("usage") if isinstance(probe.response, dict) else None
            if usage is not None:
                self.usage = usage_from_openai(usage)

    async def aclose(self) -> None:
        """Stop: release the connection if the answer ended, else abort the HTTP request."""
        if self._closed:
            return
        self._closed = True
        if self._ended_stream and not self._parser.truncated:
            self._resp.release()  # a finished answer: the connection can be reused
        else:
            self._resp.abort()  # mid-answer: drop the connection so the engine stops generating


def stream_error(error: Any, url: str) -> EngineStatusError:
    """The error an engine reported inside the stream (after the HTTP status was already 200); its
    status is the error's ``code`` when that is an HTTP error status (vLLM's), else 500."""
    if not isinstance(error, dict):
        error = {"message": str(error), "type": "engine_error", "param": None, "code": None}
    code = error.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else 500
    message = f"engine at {url} failed mid-stream: {error.get('message')}"
    return EngineStatusError(message, status=status, error=error)


def _failure_of(probe: _Probe) -> Any:
    """The OpenAI error object of an in-stream error: ``{"error": {...}}`` (OpenAI, vLLM), vLLM's
    older ``{"object": "error", "message", "type", "param", "code"}``, or a Responses API ``error``
    or ``response.failed`` event."""
    if probe.error is not None:
        return probe.error
    if probe.object == "error":
        return {"message": probe.message, "type": probe.type, "param": probe.param, "code": probe.code}
    if isinstance(probe.response, dict) and isinstance(probe.response.get("error"), dict):
        # response.failed: {"response": {"error": {"code", "message"}}}
        failed: dict[str, Any] = probe.response["error"]
        return failed
    return {"message": probe.message, "type": "engine_error", "param": None, "code": probe.code}
