"""A pure, incremental Server-Sent Events parser (and the matching encoder).

The worker relays an engine's SSE stream chunk by chunk while metering it, so the parser takes bytes
as they arrive, in any split, and returns the events completed so far. It follows the WHATWG
event-stream rules that matter to OpenAI-style streams: lines end in ``\\r\\n``, ``\\n`` or ``\\r``;
a line starting with ``:`` is a comment; ``field: value`` drops one leading space of the value;
several ``data`` lines join with ``\\n``; a blank line dispatches the event; an event without data is
not dispatched; an unterminated event at end of stream is discarded. Each event also carries the exact
bytes it was parsed from (``raw``), so a relay can forward what it received byte for byte.

No I/O, no clock: feed bytes, get `SseEvent` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cocoon.errors import DecodeError

DONE = "[DONE]"
"""The data of OpenAI's end-of-stream sentinel event (``data: [DONE]``)."""

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event.

    ``raw`` holds every byte consumed since the previous event (comments and ignored lines included),
    up to and including the blank line that dispatched this one.
    """

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None
    raw: bytes = b""

    @property
    def is_done(self) -> bool:
        """True for OpenAI's ``data: [DONE]`` sentinel."""
        return self.data == DONE


class SseParser:
    """Incremental parser: `feed` bytes in any split, get the events they complete.

    ``max_line`` bounds one line (and so the buffer): a peer that never ends a line cannot make us
    buffer without limit; exceeding it raises `DecodeError`.
    """

    def __init__(self, max_line: int = 4 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._max_line = max_line
        self._started = False  # the optional UTF-8 BOM is only stripped at the very start
        self._raw = bytearray()
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the ``[DONE]`` sentinel has been seen."""
        return self._done

    @property
    def truncated(self) -> bool:
        """Whether bytes of an unfinished line or event are pending (at end of stream: a cut stream)."""
        return bool(self._buf) or bool(self._raw)

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume ``data`` and return the events it completes, in order."""
        self._buf += data
        if not self._started:
            if len(self._buf) < len(_BOM) and _BOM.startswith(bytes(self._buf)):
                return []
            if self._buf.startswith(_BOM):
                del self._buf[: len(_BOM)]
                self._raw += _BOM
            self._started = True
        return self._drain_lines(final=False)

    def close(self) -> list[SseEvent]:
        """Signal end of stream: a trailing lone ``\\r`` ends its line; an unfinished event is dropped."""
        return self._drain_lines(final=True)

    def _drain_lines(self, *, final: bool) -> list[SseEvent]:
        events: list[SseEvent] = []
        buf = self._buf
        pos = 0
        while True:
            match = _LINE_END.search(buf, pos)
            if match is None:
                break
            # A "\r" as the very last byte may be the first half of "\r\n": wait for the next feed.
            if match.group() == b"\r" and match.end() == len(buf) and not final:
                break
            line = bytes(buf[pos : match.start()])
            self._raw += buf[pos : match.end()]
            pos = match.end()
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        del buf[:pos]
        if len(buf) > self._max_line:
            raise DecodeError(
                f"SSE line longer than {self._max_line} bytes; the engine's stream is not valid SSE"
            )
        return events

    def _process_line(self, line: bytes) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return None
        name, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        self._apply_field(name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
        return None

    def _apply_field(self, name: str, value: str) -> None:
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Any other field name is ignored, as the standard requires.

    def _dispatch(self) -> SseEvent | None:
        raw = bytes(self._raw)
        self._raw.clear()
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None  # comments-only or field-only block: not an event; its bytes are dropped
        result = SseEvent(
            data="\n".join(data), event=event or "message", id=self._id, retry=self._retry, raw=raw
        )
        if result.is_done:
            self._done = True
        return result


def encode_event(data: str | bytes, *, event: str | None = None) -> bytes:
    """Encode one event as SSE bytes (``data: ...`` lines and the blank line that ends it)."""
    text = data if isinstance(data, bytes) else data.encode("utf-8")
    head = b"event: " + event.encode("utf-8") + b"\n" if event else b""
    if b"\n" not in text and b"\r" not in text:
        return head + b"data: " + text + b"\n\n"
    lines = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


DONE_EVENT = encode_event(DONE)
"""The encoded ``data: [DONE]`` event that ends an OpenAI stream."""
