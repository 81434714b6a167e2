"""A pure, incremental Server-Sent Events parser, and the package's one SSE encoder.

The worker relays an engine's SSE stream chunk by chunk while metering it, so the parser takes bytes
as they arrive, in any split, and returns the events completed so far. It follows the WHATWG
event-stream rules that matter to OpenAI-style streams: lines end in ``\\r\\n``, ``\\n`` or ``\\r``;
a line starting with ``:`` is a comment; ``field: value`` drops one leading space of the value;
several ``data`` lines join with ``\\n``; a blank line dispatches the event; an event without data is
not dispatched; an unterminated event at end of stream is discarded. Each event also carries the exact
bytes it was parsed from (``raw``), so a relay can forward what it received byte for byte.

`encode_event` is the only place that writes SSE framing: the fake engine, the llama.cpp usage shim
and the client's re-framing of relayed events all use it, so multi-line data is framed one way
(one ``data:`` line per line, which `SseParser` joins back with ``\\n``).

No I/O, no clock: feed bytes, get `SseEvent` values.
"""

from __future__ import annotations

import re

import msgspec

from cocoon.errors import DecodeError

DONE = "[DONE]"
"""The data of OpenAI's end-of-stream sentinel event (``data: [DONE]``)."""
DONE_VALUE = DONE.encode()
"""`DONE` as the bytes of a ``data:`` line's value (`SseParser.data_values`)."""

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class SseEvent(msgspec.Struct, frozen=True):
    """One dispatched event.

    ``raw`` holds every byte consumed since the previous event (comments and ignored lines included),
    up to and including the blank line that dispatched this one. (A frozen struct, not a dataclass:
    one is built per relayed event, and a frozen dataclass's ``__init__`` costs about 8 times more.)
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

    ``max_event`` bounds one event (and so the buffer): a peer that never ends a line or an event
    cannot make us buffer without limit; exceeding it raises `DecodeError`.
    """

    def __init__(self, max_event: int = 4 * 1024 * 1024) -> None:
        # _buf holds the raw bytes of the event being parsed (from _event_start), then unparsed bytes
        # (from _scan): an event's raw bytes are sliced out once, when it is dispatched.
        self._buf = bytearray()
        self._event_start = 0
        self._scan = 0
        self._max_event = max_event
        self._started = False  # the optional UTF-8 BOM is only stripped at the very start
        self._cr = False  # whether any CR was fed: until then lines can only end in LF (fast path)
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
        return len(self._buf) > self._event_start

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume ``data`` and return the events it completes, in order."""
        lines = self._whole_lines(data)
        if lines is not None:
            return self._simple_events(data, lines)
        self._buf += data
        self._cr = self._cr or b"\r" in data
        if not self._started:
            if len(self._buf) < len(_BOM) and _BOM.startswith(bytes(self._buf)):
                return []
            if self._buf.startswith(_BOM):
                self._scan = len(_BOM)  # part of the first event's raw bytes, not of its first line
            self._started = True
        return self._drain_lines(final=False)

    def data_values(self, data: bytes) -> list[bytes] | None:
        """The values of ``data``'s events when it is the usual chunk (`data_lines_only`: whole events
        of one ``data:`` line each) and no event is half-read here, consumed as `feed` would consume
        them but without building `SseEvent`s: what a relay that passes such a chunk on whole needs.
        None, and nothing consumed, for any other chunk: `feed` it."""
        lines = self._whole_lines(data)
        if lines is None:
            return None
        values = [_data_value(line) for line in lines]
        if DONE_VALUE in values:  # only these bytes decode to DONE
            self._done = True
        return values

    def _whole_lines(self, data: bytes) -> list[bytes] | None:
        """The lines of ``data`` when it is `data_lines_only` and no event is half-read here: the usual
        relayed chunk (one event when paced, several in a burst), read without the line machinery.
        Such a chunk starts with "data:", so the stream has begun (no BOM to strip any more)."""
        if self._buf or self._data or self._event:
            return None
        lines = data_lines_only(data)
        if lines is not None:
            self._started = True
        return lines

    def _simple_events(self, data: bytes, lines: list[bytes]) -> list[SseEvent]:
        """The events of ``data``, whose `_whole_lines` are ``lines``: what the line-by-line parse
        would give for it."""
        ident, retry = self._id, self._retry
        if len(lines) == 1:  # one event (a paced stream): its raw bytes are the whole chunk
            text = _data_value(lines[0]).decode("utf-8", "replace")
            if text == DONE:
                self._done = True
            return [SseEvent(text, "message", ident, retry, bytes(data))]
        events = []
        done = False
        for line in lines:
            text = _data_value(line).decode("utf-8", "replace")
            done = done or text == DONE
            events.append(SseEvent(text, "message", ident, retry, line + b"\n\n"))
        if done:
            self._done = True
        return events

    def close(self) -> list[SseEvent]:
        """Signal end of stream: a trailing lone ``\\r`` ends its line; an unfinished event is dropped."""
        return self._drain_lines(final=True)

    def _line_end(self, pos: int, final: bool, has_cr: bool) -> tuple[int, int] | None:
        """(start, end) of the next line terminator at or after ``pos``, or None if none is complete."""
        buf = self._buf
        if not has_cr:  # the common case (LF-only streams): no regex needed
            i = buf.find(b"\n", pos)
            return None if i < 0 else (i, i + 1)
        match = _LINE_END.search(buf, pos)
        if match is None:
            return None
        # A "\r" as the very last byte may be the first half of "\r\n": wait for the next feed.
        if match.group() == b"\r" and match.end() == len(buf) and not final:
            return None
        return match.start(), match.end()

    def _drain_lines(self, *, final: bool) -> list[SseEvent]:
        events: list[SseEvent] = []
        buf = self._buf
        has_cr = self._cr
        scan = self._scan  # kept in locals: this loop runs once per line of every relayed event
        event_start = self._event_start
        while True:
            if has_cr:
                found = self._line_end(scan, final, has_cr)
                if found is None:
                    break
                start, end = found
            else:  # the common case (LF-only streams), inlined
                start = buf.find(b"\n", scan)
                if start < 0:
                    break
                end = start + 1
            if start > scan:
                line = bytes(buf[scan:start])
                scan = end
                self._process_line(line)
                continue
            scan = end
            event = self._dispatch(bytes(buf[event_start:end]))
            event_start = end
            if event is not None:
                events.append(event)
        if event_start:
            del buf[:event_start]
            scan -= event_start
        self._scan = scan
        self._event_start = 0
        if len(buf) > self._max_event:
            raise DecodeError(
                f"SSE event longer than {self._max_event} bytes; the engine's stream is not valid SSE"
            )
        return events

    def _process_line(self, line: bytes) -> None:
        if line.startswith(b"data:"):  # the usual field, without the general split and dispatch
            self._data.append(_data_value(line).decode("utf-8", "replace"))
            return
        if line.startswith(b":"):
            return
        name, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        self._apply_field(name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))

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

    def _dispatch(self, raw: bytes) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None  # comments-only or field-only block: not an event; its bytes are dropped
        text = data[0] if len(data) == 1 else "\n".join(data)
        if text == DONE:
            self._done = True
        return SseEvent(text, event or "message", self._id, self._retry, raw)  # positional: cheaper


def data_lines_only(data: bytes) -> list[bytes] | None:
    """The lines of ``data`` when it is only whole events of one ``data:`` line each, every one
    followed by a blank line, LF-ended and without CR (what engines stream, and what `encode_event`
    writes), each without its line ends; else None. The shape a parser can take in one pass."""
    if not data.startswith(b"data:") or not data.endswith(b"\n\n") or b"\r" in data:
        return None
    if data.find(b"\n") == len(data) - 2:  # the usual chunk: one event
        return [data[:-2]]
    lines = data[:-2].split(b"\n\n")
    # Counted in C, not line by line: no LF but the blank lines' (then a blank line is only ever
    # between two events), and each event after the first starts with "data:" after its blank line.
    if data.count(b"\n") != 2 * len(lines) or data.count(b"\n\ndata:") != len(lines) - 1:
        return None
    return lines


def _data_value(line: bytes) -> bytes:
    """A ``data:`` line's value (one leading space dropped, as the field rule says)."""
    return line[6:] if line[5:6] == b" " else line[5:]


def encode_event(data: str | bytes, *, event: str | None = None) -> bytes:
    """Encode one event as SSE bytes (``data: ...`` lines and the blank line that ends it).

    Data with line breaks becomes one ``data:`` line per line (``\\r\\n`` and ``\\r`` count as breaks,
    as they do for the parser), so ``SseParser`` gives back the data with its breaks as ``\\n``.
    """
    text = data if isinstance(data, bytes) else data.encode("utf-8")
    head = b"event: " + event.encode("utf-8") + b"\n" if event else b""
    if b"\n" not in text and b"\r" not in text:
        return head + b"data: " + text + b"\n\n"
    lines = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


DONE_EVENT = encode_event(DONE)
"""The encoded ``data: [DONE]`` event that ends an OpenAI stream."""
