"""What the client API's fast lane reads and writes on the wire: plain HTTP/1.1 (RFC 9112), pure.

`recognize` looks at the start of a connection's unread bytes and says whether they begin with a
request the fast lane takes (`LaneRequest`), need more bytes to tell (`NEED_MORE`), or are anything
else (`HANDOVER`): then the connection goes to aiohttp's server, which answers it as it answers every
other request, malformed ones included. The lane takes only the plainest form of the hot requests, so
it never has to decide an edge case differently from aiohttp:

- the request line ``POST <one of paths> HTTP/1.1`` exactly (no query, no absolute form);
- lines ending in CRLF, field names that are tokens, values without control characters, no name twice,
  within aiohttp's own bounds (`MAX_HEAD` bytes, `MAX_FIELDS` fields);
- a ``Content-Length`` of at most ``max_body`` bytes; no ``Transfer-Encoding``, ``Expect``, ``Upgrade``
  or ``Origin`` (browsers' requests go through aiohttp, with CORS); ``Connection`` only ``keep-alive``
  or ``close``.

`response_head`, `chunk` and `LAST_CHUNK` frame the answers: a whole body with its ``Content-Length``,
a stream with ``Transfer-Encoding: chunked``. No I/O, no clock: the shell (`cocoon.client.fast_lane`)
passes in the ``Date``.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

MAX_HEAD = 8190
"""The longest head the lane reads (aiohttp's bound on one line): a longer one goes to aiohttp."""
MAX_FIELDS = 128
"""The most fields a head the lane takes may have (aiohttp's bound): more go to aiohttp."""

_REQUEST_LINE = re.compile(r"POST (/[!-~]*) HTTP/1\.1")
_LENGTH = re.compile(r"[0-9]{1,15}")
_REFUSED_FIELDS = frozenset({"transfer-encoding", "expect", "upgrade", "origin"})
_CONNECTION_TOKENS = frozenset({"keep-alive", "close"})
_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
"""Each status's reason phrase, as the COCOON port writes it too (looked up once, not per answer)."""
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
LAST_CHUNK: Final = b"0\r\n\r\n"
"""The end of a chunked body (no trailers)."""


class _Verdict:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_MORE: Final = _Verdict("NEED_MORE")
"""The bytes so far may still become a request the lane takes: wait for more."""
HANDOVER: Final = _Verdict("HANDOVER")
"""The bytes begin with something the lane does not take: hand the connection to aiohttp."""


@dataclass(frozen=True, slots=True)
class LaneRequest:
    """The head of a request the lane takes; its body is ``length`` bytes from ``body_start``."""

    path: str
    fields: Mapping[str, str]
    """Field names in lower case, each once; values as sent (Latin-1), surrounding blanks removed."""
    body_start: int
    length: int
    keep_alive: bool

    @property
    def end(self) -> int:
        """Where the request's bytes end (its body included)."""
        return self.body_start + self.length


def recognize(
    data: bytes | bytearray,
    paths: frozenset[str],
    max_body: int,
    *,
    max_head: int = MAX_HEAD,
    scanned: int = 0,
) -> LaneRequest | _Verdict:
    """Whether ``data`` (a connection's unread bytes, at a request's start) begins with a request the
    lane takes: its `LaneRequest` (the body may not be all there yet), `NEED_MORE` or `HANDOVER`.

    ``scanned``: the length ``data`` had when an earlier call said `NEED_MORE` (0: none did). Only the
    bytes after it are searched for the head's end and for bare line feeds, so a head that arrives a
    byte at a time costs time in proportion to its length, not to its square.
    """
    end = data.find(b"\r\n\r\n", max(0, scanned - 3), max_head)
    if end < 0:
        # A CRLF across the old and new bytes counts once: its LF among the new, its CR just before.
        if len(data) >= max_head or data.count(b"\n", scanned) != data.count(b"\r\n", max(0, scanned - 1)):
            return HANDOVER  # too long, or lines ended some other way: aiohttp decides
        return NEED_MORE
    # Latin-1 maps every byte to one character: the checks below see the bytes as they came.
    lines = bytes(data[:end]).decode("latin-1").split("\r\n")
    line = _REQUEST_LINE.fullmatch(lines[0])
    if line is None or (path := line.group(1)) not in paths:
        return HANDOVER
    if len(lines) > MAX_FIELDS + 1:
        return HANDOVER
    fields: dict[str, str] = {}
    names: list[str] = []
    for raw in lines[1:]:
        name, colon, value = raw.partition(":")
        lower = name.lower()
        if not colon or lower in fields:
            return HANDOVER
        names.append(name)
        fields[lower] = value.strip(" \t")
    if not _carriable(names, fields.values()) or not _REFUSED_FIELDS.isdisjoint(fields):
        return HANDOVER
    length = fields.get("content-length")
    if length is None or _LENGTH.fullmatch(length) is None or int(length) > max_body:
        return HANDOVER
    keep_alive = True
    if (connection := fields.get("connection")) is not None:
        tokens = {token.strip().lower() for token in connection.split(",")}
        if not tokens <= _CONNECTION_TOKENS:
            return HANDOVER
        keep_alive = "close" not in tokens
    return LaneRequest(path, fields, end + 4, int(length), keep_alive)


def _carriable(names: list[str], values: Iterable[str]) -> bool:
    """Whether every field name is a token and no value holds a control character but HTAB.

    One check for all names (tokens joined are a token; an empty name, a blank or an obs-fold is not)
    and one for all values."""
    if "" in names or (names and _TOKEN.fullmatch("".join(names)) is None):
        return False
    return _UNSAFE_VALUE.search("".join(values)) is None


def response_head(
    status: int, headers: Mapping[str, str], *, length: int | None, close: bool, date: str
) -> bytes:
    """The head of a response: ``length`` bytes of body, or chunked when ``length`` is None.

    ``headers`` framing fields (``Content-Length``, ``Transfer-Encoding``, ``Connection``) are replaced
    by the lane's own. A ValueError when a header name is not a token or a value holds a control
    character (CR and LF among them): a header from the network can never add lines to the head.
    """
    names: list[str] = []
    values: list[str] = []
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nDate: {date}\r\n"]
    for name, value in headers.items():
        if name.lower() in _FRAMING:
            continue
        names.append(name)
        values.append(value)
        lines.append(f"{name}: {value}\r\n")
    if not _carriable(names, values):
        raise ValueError(f"a response header of {names} has a name or value HTTP cannot carry")
    lines.append(f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n")
    if close:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body (an empty ``data`` would end it: never framed)."""
    return b"%x\r\n%b\r\n" % (len(data), data)
