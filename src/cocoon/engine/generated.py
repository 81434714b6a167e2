"""Counting what a stream generated from its events (pure): the lower bound on completion tokens that
meters a stream whose engine never sent its usage (`cocoon.usage.delivered_usage`).

`cocoon.engine.stream.EngineStream` counts each event it already decodes; `count_generated` counts
the events in a buffer of bytes (`cocoon.engine.memory`, tests).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cocoon.wire.sse import SseParser


class _Pieces(msgspec.Struct):
    """The members of an event that say what it generated; the rest is skipped by the decoder."""

    choices: Any = None
    type: Any = None
    delta: Any = None


_pieces = msgspec.json.Decoder(_Pieces)


def generated_in(choices: Any, event_type: Any = None, delta: Any = None) -> int:
    """How many generated pieces one event carries (its ``choices``, or a Responses API event's
    ``type`` and ``delta``): each choice of a chat chunk whose delta has text
    (content, reasoning) or tool-call arguments, each choice of a completion chunk with text, one for a
    Responses API ``*.delta`` event with text. Engines send at most one event per decoding step and a
    step yields at least one token (a detokenizer may hold a piece back, never split one token over
    two events), so the count is a lower bound on the completion tokens: what the network charges for
    a stream that breaks before the engine's usage chunk, never more than was generated."""
    if event_type is not None:
        return int(isinstance(delta, str) and bool(delta) and str(event_type).endswith(".delta"))
    if not isinstance(choices, list):
        return 0
    if len(choices) == 1:  # the usual chunk: no generator per event
        return int(_generated_piece(choices[0]))
    return sum(_generated_piece(choice) for choice in choices)


def _generated_piece(choice: Any) -> bool:
    if not isinstance(choice, dict):
        return False
    if choice.get("text"):  # a legacy completion chunk
        return True
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return False
    if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
        return True
    calls = delta.get("tool_calls")
    return isinstance(calls, list) and any(
        isinstance(call, dict)
        and isinstance(call.get("function"), dict)
        and call["function"].get("arguments")
        for call in calls
    )


def count_generated(raw: bytes) -> int:
    """`generated_in` summed over the whole SSE events in ``raw`` (for engines that hold their events
    as bytes, e.g. `cocoon.engine.memory`)."""
    total = 0
    for event in SseParser().feed(raw):
        if not event.is_done:
            event_data = _pieces.decode(event.data)
            total += generated_in(event_data.choices, event_data.type, event_data.delta)
    return total
