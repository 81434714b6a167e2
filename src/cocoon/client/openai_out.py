"""Turning the network's answer parts into what an OpenAI caller expects (pure helpers).

- Streamed answers: `AnswerChunk`s carry the engine's SSE bytes, in any split; `relay_events` re-frames
  each completed event with the one SSE encoder (`cocoon.wire.sse.encode_event`); `EventRelay` does
  the same for one stream, passing on unparsed a chunk that re-framing would leave as it is. The
  engine's usage chunk (``choices: []`` with ``usage``) is held back until the proxy's `AnswerEnd`
  brings the cost, then sent with the cost fields, and only if the caller asked for usage. The stream
  always ends with ``data: [DONE]``, also after an error event.
- Streamed Responses API answers (`StreamShape.RESPONSES`): events keep their ``event:`` names; the
  closing ``response.completed`` (or ``response.incomplete``) event carries the usage, so it is held
  until the cost is known and always sent, with the cost in ``response.usage``. As OpenAI's, such a
  stream sends no ``[DONE]``; an error is an ``error`` event (with an ``error`` member too, so the SDK
  raises it).
- Non-streamed answers: the JSON body gets the cost fields in ``usage`` and, when verified, the receipt.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import msgspec

from cocoon.api.error_codes import openai_type
from cocoon.api.responses_answer import RESPONSE_ENDS
from cocoon.errors import RequestError
from cocoon.wire.messages import AnswerEnd, AnswerError
from cocoon.wire.sse import SseParser, data_lines_only, encode_event

# Network error codes (spec/openai-api.md) -> the parameter they concern, for the error body.
_ERROR_PARAM = {"model_not_found": "model", "price_too_low": "max_coefficient", "insufficient_funds": None}


def error_from_answer(error: AnswerError) -> RequestError:
    """The OpenAI-style error for a network `AnswerError`: code the network code, type from the code
    table (`cocoon.api.error_codes`), param the one the network named or the code's own."""
    headers = {"Retry-After": "1"} if error.code == "no_capacity" else None
    return RequestError(
        error.message,
        status=error.status,
        error_type=openai_type(error.code),
        param=error.param or _ERROR_PARAM.get(error.code),
        code=error.code,
        headers=headers,
    )


class StreamShape(enum.Enum):
    """How a streamed answer ends: chat-style (usage chunk, then ``[DONE]``) or Responses API events."""

    CHAT = "chat"
    RESPONSES = "responses"

    @classmethod
    def of(cls, endpoint: str) -> StreamShape:
        """The shape of a stream from ``endpoint`` (a `cocoon.api.schema.Endpoint`)."""
        return cls.RESPONSES if endpoint == "responses" else cls.CHAT


def error_event(error: RequestError, shape: StreamShape = StreamShape.CHAT) -> bytes:
    """An error after the stream started: a final SSE event with the OpenAI error body (for a
    Responses API stream, an ``error`` event that also carries it)."""
    body = error.to_body()
    if shape is StreamShape.CHAT:
        return encode_event(json.dumps(body))
    event = {"type": "error", "sequence_number": 0, "code": error.code, "message": error.message}
    event["param"] = error.param
    return encode_event(json.dumps({**event, **body}), event="error")


def relay_events(
    parser: SseParser, data: bytes, shape: StreamShape = StreamShape.CHAT
) -> tuple[bytes, bytes | None]:
    """Feed engine bytes to ``parser``: (the completed events re-framed, the final event if one came).

    The engine's ``[DONE]`` is dropped (the client sends its own, always last) and the event that
    carries the usage (a chat stream's usage chunk, a Responses stream's last event) is returned apart,
    to be held until the cost is known. Event names are kept.
    """
    out = bytearray()
    held: bytes | None = None
    for event in parser.feed(data):
        if event.is_done:
            continue
        payload = event.data.encode()
        if is_usage_chunk(payload) if shape is StreamShape.CHAT else is_response_end(payload):
            held = payload
        else:
            out += encode_event(payload, event=None if event.event == "message" else event.event)
    return bytes(out), held


class EventRelay:
    """`relay_events` over one stream, with a short way for the chunk engines almost always send.

    A chat stream's chunk made only of whole events each written ``data: <one line>`` plus a blank
    line, in UTF-8, arriving while no event is half-read, is what the parser and `encode_event` would
    give back byte for byte: it is passed on as it is (without the ``[DONE]`` and the usage chunk),
    never parsed; the first one too when it starts with ``data: `` (so with no byte-order mark): a
    burst answer comes whole in its first chunk. Any other chunk goes through the parser, so the
    result is `relay_events`' in every case.
    """

    def __init__(self, shape: StreamShape = StreamShape.CHAT) -> None:
        self.parser = SseParser()
        self.shape = shape
        self._fed = False  # the parser has read a first byte: it strips no byte-order mark any more

    def feed(self, data: bytes) -> tuple[bytes, bytes | None]:
        """(the completed events re-framed, the final event if one came), as `relay_events`."""
        if self.shape is StreamShape.CHAT and not self.parser.truncated and _plain(data):
            if not self._fed:
                # No mark could start this stream: one blank line (no event) tells the parser it has
                # begun, so it never takes a later chunk's first bytes for a mark.
                self.parser.feed(b"\n")
                self._fed = True
            return _pass_on(data)
        self._fed = self._fed or bool(data)  # a partial mark is pending (truncated) until resolved
        return relay_events(self.parser, data, self.shape)


_DATA = b"data: "
_SEPARATED_DATA = b"\n\n" + _DATA


def _plain(data: bytes) -> bool:
    """Whether ``data`` is only whole ``data: <line>`` events as `encode_event` writes them
    (`data_lines_only`, each with the space), in valid UTF-8 (so it starts with "data: ")."""
    lines = data_lines_only(data)
    # A blank line is only ever between two events there: each event but the first follows one.
    if lines is None or not data.startswith(_DATA) or data.count(_SEPARATED_DATA) != len(lines) - 1:
        return False
    if not data.isascii():
        try:
            data.decode()
        except UnicodeDecodeError:  # the parser would replace the bad bytes: let it
            return False
    return True


def _pass_on(data: bytes) -> tuple[bytes, bytes | None]:
    """`relay_events`' result for a chunk of plain chat events: ``data`` itself, but for the ``[DONE]``
    and usage events. Only the events from the first that mentions either are looked at one by one
    (an engine sends them last); those before it are passed on as they are."""
    found = [at for at in (data.find(b'"usage"'), data.find(b"[DONE]")) if at >= 0]
    if not found:
        return data, None
    blank = data.rfind(b"\n\n", 0, min(found))
    start = blank + 2 if blank >= 0 else 0  # where the event holding the first mention begins
    kept = [data[:start]]
    held: bytes | None = None
    dropped = False
    for line in data[start:-2].split(b"\n\n"):
        payload = line[len(_DATA) :]
        if payload == b"[DONE]":
            dropped = True
        elif is_usage_chunk(payload):
            held, dropped = payload, True
        else:
            kept.append(line + b"\n\n")
    if not dropped:
        return data, None
    return b"".join(kept), held


def is_response_end(payload: bytes) -> bool:
    """True for a Responses API stream's last event (``response.completed`` or ``.incomplete``)."""
    if not any(end.encode() in payload for end in RESPONSE_ENDS):
        return False
    event, _ = _json_value(payload)
    return isinstance(event, dict) and event.get("type") in RESPONSE_ENDS


def final_event(
    payload: bytes,
    end: AnswerEnd,
    shape: StreamShape,
    receipt: dict[str, Any] | None,
    debug: dict[str, Any] | None = None,
) -> bytes:
    """The held final event with its cost (and verified receipt, and the hops' timings when the
    request asked for them), framed for the stream's shape."""
    doc, costed = _costed(payload, end, debug, receipt)
    if shape is StreamShape.CHAT:
        return encode_event(costed)
    return encode_event(costed, event=str(doc.get("type") if isinstance(doc, dict) else None))


def is_usage_chunk(payload: bytes) -> bool:
    """True for the engine's final usage-only chunk of a stream."""
    mentions = payload.count(b'"usage"')
    if not mentions:
        return False
    if mentions == 1 and (b'"usage":null' in payload or b'"usage": null' in payload):
        # Every chunk of a vLLM-style stream says so; no JSON string can hold these bytes (its quotes
        # are escaped), so this is the key itself: not the usage chunk, and no need to parse it.
        return False
    chunk, _ = _json_value(payload)
    return isinstance(chunk, dict) and chunk.get("usage") is not None and not chunk.get("choices")


def _json_value(payload: bytes) -> tuple[Any, bool]:
    """``payload`` parsed as JSON (None when it is not), and whether msgspec read it: msgspec first (a
    few times faster), the json module for what only that one reads (``NaN``, a lone surrogate escape,
    ``1e999``). A value is written back by the same module that read it."""
    try:
        return msgspec.json.decode(payload), True
    except msgspec.DecodeError:  # ValidationError (a number out of range) is one too
        try:
            return json.loads(payload), False
        except ValueError:
            return None, False


def cost_fields(end: AnswerEnd) -> dict[str, int]:
    """The nanoTON cost fields we add to ``usage`` (spec/openai-api.md, response additions)."""
    return {
        "prompt_total_cost": end.prompt_cost,
        "completion_total_cost": end.cost - end.prompt_cost,
        "total_cost": end.cost,
        "adjusted_tokens": end.adjusted_tokens,
    }


def add_cost_to_usage(
    payload: bytes,
    end: AnswerEnd,
    debug: dict[str, Any] | None = None,
    receipt: dict[str, Any] | None = None,
) -> bytes:
    """Return the JSON `payload` with cost fields merged into its ``usage`` and ``receipt`` attached.

    ``receipt`` is the client-verified receipt's JSON form; an unverified one is never attached.
    Keys keep their order; a payload that is not a JSON object is returned as it came.
    """
    return _costed(payload, end, debug, receipt)[1]


def _costed(
    payload: bytes, end: AnswerEnd, debug: dict[str, Any] | None, receipt: dict[str, Any] | None
) -> tuple[Any, bytes]:
    """(the parsed payload, `add_cost_to_usage`'s bytes). Parsed and written with msgspec (a few times
    faster than the json module, same keys and values, non-ASCII as UTF-8); what msgspec refuses but
    the json module reads (``NaN``, a lone surrogate escape, ``1e999``) takes the json module's way."""
    doc, by_msgspec = _json_value(payload)
    if not isinstance(doc, dict):
        return doc, payload
    _add(doc, end, debug, receipt)
    if by_msgspec:
        return doc, msgspec.json.encode(doc)
    return doc, json.dumps(doc, separators=(",", ":")).encode()


def _add(
    doc: dict[str, Any], end: AnswerEnd, debug: dict[str, Any] | None, receipt: dict[str, Any] | None
) -> None:
    """Merge the cost fields into ``doc``'s usage (a Responses API event's: its response's) and attach
    the receipt and the debug timings."""
    usage = doc.get("usage")
    if isinstance(doc.get("response"), dict):  # a Responses API event: the usage of its response
        usage = doc["response"].get("usage")
    if isinstance(usage, dict):
        usage.update(cost_fields(end))
    if receipt is not None:
        doc["receipt"] = receipt
    if debug is not None:
        doc["debug"] = debug
