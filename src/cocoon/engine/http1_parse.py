"""A pure, incremental HTTP/1.1 response parser (RFC 9112), for the engine client's own transport.

Feed it the bytes of one connection as they arrive, in any split; it returns what they complete: the
`ResponseHead` (status, version, fields, whether the connection may be reused), then body data as
``bytes``, then `END`. The body is delimited as RFC 9112 section 6.3 says for a response to a POST:

- 1xx interim responses are skipped (101 is refused: we never ask to switch protocols);
- 204 and 304 have no body;
- ``Transfer-Encoding: chunked`` (chunk sizes, extensions and trailers checked, then dropped);
- else ``Content-Length``;
- else the body runs until the server closes the connection (`feed_eof`), which is then not reused.

The engine is not trusted: a head (or trailer section) larger than ``max_head`` bytes or with more than
``max_fields`` fields, a bad status line or field line, a bare CR, an invalid, negative or conflicting
``Content-Length``, a transfer or content coding we did not ask for, or a bad chunk size all raise
`EngineError` naming the engine's URL. Lines may end in CRLF or a lone LF (RFC 9112 section 2.2).

No I/O, no clock: the asyncio side (`cocoon.engine.http1`) is a thin shell around it.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from cocoon.errors import EngineError

MAX_HEAD = 64 * 1024
"""Default bound on one response head (status line and fields) and on a chunked body's trailers."""
MAX_FIELDS = 100
"""Default bound on the fields of one head or trailer section."""
_MAX_CHUNK_LINE = 4096
"""Bound on a chunk-size line with its extensions."""
_MAX_INTERIM = 16
"""Bound on the 1xx responses before the final one: a server cannot stall us with endless 100s."""

_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?\r?")
_FIELD_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*\r?")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?\r?")
_BLOCK_END = re.compile(rb"\r?\n\r?\n")
_DIGITS = re.compile(r"[0-9]{1,18}")
_NO_BODY = frozenset({204, 304})

# Parser states.
_HEAD, _LENGTH, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_EOF, _DONE = range(8)


class ResponseHead(msgspec.Struct, frozen=True):
    """The head of the final response: status, HTTP minor version, fields in order (names lowercased,
    values as sent, decoded as Latin-1), and whether the server lets the connection carry another
    request (``Connection`` and the version; the body's framing may still forbid it: see
    `ResponseParser.reusable`)."""

    status: int
    minor: int
    fields: list[tuple[str, str]]
    keep_alive: bool

    def get(self, name: str) -> str | None:
        """The value of field ``name`` (lowercase), its occurrences joined with ``", "``; None if absent."""
        values = [v for n, v in self.fields if n == name]
        return ", ".join(values) if values else None


class BodyEnd:
    """The type of `END`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = BodyEnd()
"""The event after the last body data: the response is complete."""

Event = ResponseHead | bytes | BodyEnd


class ResponseParser:
    """Parses one response; make a new one per request. ``url`` names the engine in error messages."""

    def __init__(self, url: str, *, max_head: int = MAX_HEAD, max_fields: int = MAX_FIELDS) -> None:
        self._url = url
        self._max_head = max_head
        self._max_fields = max_fields
        self._state = _HEAD
        self._buf = bytearray()  # an unfinished head, chunk-size line, chunk end or trailer section
        self._remaining = 0  # bytes left of a Content-Length body or of the current chunk
        self._interim = 0
        self._reusable = False
        self.head: ResponseHead | None = None
        """The final response's head, once parsed."""
        self.extra = False
        """Whether bytes came after the response ended (a confused or hostile server)."""

    @property
    def done(self) -> bool:
        """Whether the whole response has been parsed (`END` was returned)."""
        return self._state == _DONE

    @property
    def reusable(self) -> bool:
        """Whether the connection may carry another request: the response ended, by its framing, on a
        connection the server keeps alive, and nothing came after it."""
        return self._state == _DONE and self._reusable and not self.extra

    def feed(self, data: bytes) -> list[Event]:
        """Consume ``data`` and return the events it completes, in order."""
        out: list[Event] = []
        pos, size = 0, len(data)
        while pos < size:
            state = self._state
            if state in (_CHUNK_DATA, _LENGTH):
                remaining = self._remaining
                if pos == 0 and size <= remaining:  # the usual case: the whole read is body data
                    out.append(data)
                    taken = size
                else:
                    taken = min(remaining, size - pos)
                    out.append(data[pos : pos + taken])
                pos += taken
                self._remaining = remaining - taken
                if self._remaining == 0:
                    if state == _LENGTH:
                        self._finish(out)
                    else:
                        self._state = _CHUNK_END
            elif state in (_CHUNK_SIZE_LINE, _CHUNK_END):
                line, pos = self._line(data, pos)
                if line is not None:
                    self._chunk_line(line, out)
            elif state in (_HEAD, _TRAILERS):
                block, pos = self._block(data, pos)
                if block is not None:
                    if state == _HEAD:
                        self._head(block, out)
                    else:
                        # block[0] is the LF put before it (`_chunk_line`)
                        self._fields(block[1:].split(b"\n") if len(block) > 1 else [], "trailer section")
                        self._finish(out)
            elif state == _UNTIL_EOF:
                out.append(data[pos:] if pos else data)
                pos = size
            else:  # _DONE: we sent one request, so anything more is not an answer to it
                self.extra = True
                break
        return out

    def feed_eof(self) -> list[Event]:
        """The server closed the connection: `END` if that ends a body read until close, nothing if
        the response had already ended; an incomplete response raises `IncompleteResponse`."""
        if self._state == _UNTIL_EOF:
            out: list[Event] = []
            self._finish(out)
            return out
        if self._state == _DONE:
            return []
        raise IncompleteResponse(
            "the engine closed the connection before the head of its answer"
            if self._state == _HEAD
            else "the engine closed the connection mid-answer"
        )

    def _error(self, why: str) -> EngineError:
        return EngineError(f"engine at {self._url} sent a malformed HTTP answer: {why}")

    def _finish(self, out: list[Event]) -> None:
        self._state = _DONE
        out.append(END)

    def _block(self, data: bytes, pos: int) -> tuple[bytes | None, int]:
        """A head or trailer section up to (not including) its blank line, and the position after it;
        (None, end of data) while unfinished. Scans each byte once, whatever the split."""
        buf = self._buf
        limit = self._max_head
        if not buf:  # the usual case: the whole head arrived in one read
            match = _BLOCK_END.search(data, pos, pos + limit + 4)
            if match is not None:
                return data[pos : match.start()], match.end()
            if len(data) - pos > limit:
                raise self._error(f"head larger than {limit} bytes")
        start = len(buf)
        buf += data[pos:]
        match = _BLOCK_END.search(buf, max(0, start - 3))
        if match is None:
            if len(buf) > limit:
                raise self._error(f"head larger than {limit} bytes")
            return None, len(data)
        if match.start() > limit:
            raise self._error(f"head larger than {limit} bytes")
        block = bytes(buf[: match.start()])
        buf.clear()
        return block, pos + match.end() - start

    def _line(self, data: bytes, pos: int) -> tuple[bytes | None, int]:
        """One line (without its LF), and the position after it; (None, end of data) while unfinished."""
        buf = self._buf
        newline = data.find(b"\n", pos)
        if newline < 0:
            buf += data[pos:]
            if len(buf) > _MAX_CHUNK_LINE:
                raise self._error("chunk-size line too long")
            return None, len(data)
        if buf:
            buf += data[pos:newline]
            line = bytes(buf)
            buf.clear()
        else:
            line = data[pos:newline]
        if len(line) > _MAX_CHUNK_LINE:
            raise self._error("chunk-size line too long")
        return line, newline + 1

    def _chunk_line(self, line: bytes, out: list[Event]) -> None:
        if self._state == _CHUNK_END:  # the CRLF after a chunk's data
            if line not in (b"", b"\r"):
                raise self._error("chunk data longer than its size")
            self._state = _CHUNK_SIZE_LINE
            return
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise self._error(f"bad chunk size line {line[:40]!r}")
        size = int(match.group(1), 16)
        if size:
            self._remaining = size
            self._state = _CHUNK_DATA
        else:  # the last chunk: the trailer section follows, up to a blank line
            self._state = _TRAILERS
            self._buf += b"\n"  # so an empty trailer section (a lone CRLF) is a blank line for _block

    def _head(self, block: bytes, out: list[Event]) -> None:
        lines = block.split(b"\n")
        status_line = _STATUS_LINE.fullmatch(lines[0])
        if status_line is None:
            raise self._error(f"bad status line {lines[0][:60]!r}")
        minor, status = int(status_line.group(1)), int(status_line.group(2))
        fields = self._fields(lines[1:], "head")
        if 100 <= status < 200:
            if status == 101:
                raise self._error("101 Switching Protocols to a request that asked for no switch")
            self._interim += 1
            if self._interim > _MAX_INTERIM:
                raise self._error(f"more than {_MAX_INTERIM} interim (1xx) responses")
            return  # an interim response: the final one follows on the same connection
        if status < 100:
            raise self._error(f"status {status}")
        connection = [t.strip().lower() for n, v in fields if n == "connection" for t in v.split(",")]
        keep_alive = "close" not in connection and (minor >= 1 or "keep-alive" in connection)
        head = ResponseHead(status=status, minor=minor, fields=fields, keep_alive=keep_alive)
        self.head = head
        self._reusable = keep_alive
        out.append(head)
        self._framing(head, fields, out)

    def _framing(self, head: ResponseHead, fields: list[tuple[str, str]], out: list[Event]) -> None:
        """Choose how the body is delimited (RFC 9112 section 6.3)."""
        codings = lengths = None
        for name, value in fields:
            if name == "transfer-encoding":
                codings = (codings or []) + [c.strip().lower() for c in value.split(",")]
            elif name == "content-length":
                lengths = (lengths or []) + [v.strip() for v in value.split(",")]
            elif name == "content-encoding" and value.strip().lower() not in ("", "identity"):
                raise self._error(f"Content-Encoding {value!r}, which we did not ask for")
        if head.status in _NO_BODY:
            self._finish(out)
        elif codings is not None:
            if codings != ["chunked"]:
                raise self._error(f"Transfer-Encoding {', '.join(codings)!r}; only chunked is understood")
            if lengths is not None or head.minor == 0:
                self._reusable = False  # framing a smuggler could exploit: never reuse (section 6.3)
            self._state = _CHUNK_SIZE_LINE
        elif lengths is not None:
            if len(set(lengths)) != 1 or not _DIGITS.fullmatch(lengths[0]):
                raise self._error(f"bad Content-Length {', '.join(lengths)!r}")
            self._remaining = int(lengths[0])
            if self._remaining:
                self._state = _LENGTH
            else:
                self._finish(out)
        else:
            self._reusable = False  # only the server closing the connection ends this body
            self._state = _UNTIL_EOF

    def _fields(self, lines: list[bytes], where: str) -> list[tuple[str, str]]:
        """The field lines of a head or trailer section, checked, names lowercased."""
        if len(lines) > self._max_fields:
            raise self._error(f"more than {self._max_fields} fields in its {where}")
        fields = []
        for line in lines:
            match = _FIELD_LINE.fullmatch(line)
            if match is None:
                raise self._error(f"bad field line {line[:60]!r} in its {where}")
            fields.append((match.group(1).decode("ascii").lower(), match.group(2).decode("latin-1")))
        return fields


class IncompleteResponse(ConnectionError):
    """The connection ended before the response did (a broken connection, not a malformed answer)."""
