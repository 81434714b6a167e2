"""``multipart/form-data`` bodies (RFC 7578), read strictly and written canonically (pure).

The audio transcription endpoint takes a form, as OpenAI's does. The client reads the caller's form
(`parse_form`), checks it, and sends the network a canonical encoding of it (`encode_form`: text fields
first, then files, CRLF line ends, a boundary derived from the content), so the worker can check the
same bytes again (`boundary_of_body`) and the receipt covers exactly what both saw.

Every malformed form is a `RequestError` (400) saying what is wrong; nothing else is raised.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cocoon.errors import RequestError

MAX_PARTS = 64
"""Most parts a form may have (OpenAI's transcription form has about a dozen fields)."""
MAX_HEADERS_BYTES = 8 * 1024
"""Most bytes of one part's headers."""

_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$")  # RFC 2046's bchars, at most 70
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


@dataclass(frozen=True, slots=True)
class FormPart:
    """One field of a form: a text field (no ``filename``) or a file."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def is_file(self) -> bool:
        return self.filename is not None


@dataclass(frozen=True, slots=True)
class FormBody:
    """An encoded form: the bytes and the ``Content-Type`` (with its boundary) to send them with."""

    content_type: str
    data: bytes


def _bad(what: str) -> RequestError:
    return RequestError(f"The multipart/form-data body is malformed: {what}.")


def boundary_of(content_type: str) -> str:
    """The boundary named by a ``multipart/form-data; boundary=...`` header value."""
    params = _params(content_type)
    boundary = params.get("boundary")
    if boundary is None or not _BOUNDARY.match(boundary) or boundary.endswith(" "):
        raise _bad("the Content-Type names no valid boundary")
    return boundary


def boundary_of_body(raw: bytes) -> str:
    """The boundary of a canonical form (`encode_form`'s), which starts with its first delimiter."""
    first, _, _ = raw.partition(b"\r\n")
    if not first.startswith(b"--"):
        raise _bad("it does not start with a boundary line")
    # A form without parts is its closing delimiter alone; a canonical boundary ends in a hex digit.
    boundary = first[2:].removesuffix(b"--").decode("ascii", "replace")
    if not _BOUNDARY.match(boundary):
        raise _bad("its first boundary is not a valid one")
    return boundary


def _params(header: str) -> dict[str, str]:
    """The ``; name=value`` parameters of a header value (quoted values unquoted)."""
    found: dict[str, str] = {}
    for name, value in _PARAM.findall(header):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found[name.lower()] = value
    return found


def parse_form(raw: bytes, boundary: str) -> list[FormPart]:
    """The parts of a form delimited by ``boundary``, in order (a preamble and epilogue are ignored)."""
    delimiter = b"\r\n--" + boundary.encode("ascii")
    sections = (b"\r\n" + raw).split(delimiter)
    if len(sections) < 2:
        raise _bad(f"the boundary {boundary!r} does not occur in it")
    parts: list[FormPart] = []
    for section in sections[1:]:
        if section.startswith(b"--"):
            return parts  # the closing delimiter: the rest is epilogue
        if len(parts) == MAX_PARTS:
            raise _bad(f"it has more than {MAX_PARTS} parts")
        parts.append(_part(section))
    raise _bad("it has no closing boundary (the body may have been cut)")


def _part(section: bytes) -> FormPart:
    line_end = section.find(b"\r\n")
    if line_end < 0 or section[:line_end].strip(b" \t"):
        raise _bad("a boundary line is followed by something other than a line end")
    rest = section[line_end + 2 :]
    head, sep, data = rest.partition(b"\r\n\r\n")
    if not sep or rest.startswith(b"\r\n"):
        raise _bad("a part has no headers, or they do not end with an empty line")
    if len(head) > MAX_HEADERS_BYTES:
        raise _bad(f"a part's headers exceed {MAX_HEADERS_BYTES} bytes")
    headers = _headers(head)
    disposition = headers.get("content-disposition", "")
    if not disposition.lower().startswith("form-data"):
        raise _bad("a part has no 'Content-Disposition: form-data' header")
    params = _params(disposition)
    if not params.get("name"):
        raise _bad("a part's Content-Disposition names no field")
    return FormPart(params["name"], data, params.get("filename"), headers.get("content-type"))


def _headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n") if head else []:
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise _bad(f"a part's header line {line[:60]!r} is not 'Name: value'")
        try:
            headers[name.strip().decode("ascii").lower()] = value.strip().decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("a part's header is not UTF-8 text") from None
    return headers


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "") + '"'


def encode_form(parts: Iterable[FormPart]) -> FormBody:
    """The canonical encoding of ``parts``: its boundary is derived from their content (so the same
    form always encodes to the same bytes) and is checked not to occur in any of them."""
    parts = list(parts)
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.name.encode() + b"\0" + part.data)
    boundary = "cocoon-form-" + digest.hexdigest()[:32]
    marker = boundary.encode()
    if any(marker in part.data for part in parts):  # only by a SHA-256 collision of our own prefix
        raise RequestError("A form field contains its own boundary; send the form again.")
    out = bytearray()
    for part in parts:
        disposition = f"form-data; name={_quote(part.name)}"
        if part.filename is not None:
            disposition += f"; filename={_quote(part.filename)}"
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if part.content_type:
            out += f"Content-Type: {part.content_type}\r\n".encode()
        out += b"\r\n" + part.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return FormBody(f"multipart/form-data; boundary={boundary}", bytes(out))
