"""Forms (`cocoon.api.multipart`): what real clients send is read back exactly, the canonical encoding
round-trips and is stable, and every malformed form is a 400 naming the problem, never a crash."""

from __future__ import annotations

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.api.multipart import (
    MAX_PARTS,
    FormPart,
    boundary_of,
    boundary_of_body,
    encode_form,
    parse_form,
)
from cocoon.errors import RequestError

AUDIO = bytes(range(256)) * 8 + b"\r\n--not-the-boundary\r\n"


def _aiohttp_form() -> tuple[str, bytes]:
    """A form as aiohttp's client encodes it (what the openai SDK's httpx sends is checked end to end)."""
    form = aiohttp.FormData()
    form.add_field("model", "whisper")
    form.add_field("file", AUDIO, filename="note.wav", content_type="audio/wav")
    form.add_field("timestamp_granularities[]", "word")
    payload = form()
    chunks: list[bytes] = []

    class _Writer:
        async def write(self, data: bytes) -> None:
            chunks.append(bytes(data))

    import asyncio

    asyncio.run(payload.write(_Writer()))  # type: ignore[arg-type]  # a stand-in for aiohttp's writer
    return payload.content_type, b"".join(chunks)


def test_a_real_clients_form_is_read_back_exactly() -> None:
    content_type, raw = _aiohttp_form()
    parts = parse_form(raw, boundary_of(content_type))
    assert [(p.name, p.filename) for p in parts] == [
        ("model", None),
        ("file", "note.wav"),
        ("timestamp_granularities[]", None),
    ]
    assert parts[0].data == b"whisper" and parts[1].data == AUDIO
    assert parts[1].content_type == "audio/wav"


def test_quoted_parameters_are_unescaped() -> None:
    raw = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a \\"q\\".wav"\r\n\r\nx\r\n--b--\r\n'
    )
    (part,) = parse_form(raw, "b")
    assert (part.name, part.filename, part.data) == ("file", 'a "q".wav', b"x")


def test_the_canonical_encoding_round_trips_and_is_stable() -> None:
    parts = [FormPart("model", b"m"), FormPart("file", AUDIO, "x.wav", "audio/wav")]
    body = encode_form(parts)
    assert body == encode_form(parts)  # same form, same bytes (the receipt depends on it)
    assert boundary_of_body(body.data) == boundary_of(body.content_type)
    assert parse_form(body.data, boundary_of_body(body.data)) == parts
    assert encode_form([FormPart("model", b"other"), parts[1]]).content_type != body.content_type


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.binary(max_size=64)), max_size=6))
def test_any_fields_round_trip(fields: list[tuple[str, bytes]]) -> None:
    parts = [FormPart(name.replace("\r", "").replace("\n", "") or "x", data) for name, data in fields]
    body = encode_form(parts)
    assert parse_form(body.data, boundary_of_body(body.data)) == parts


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b"", "does not occur"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx', "no closing boundary"),
        (b"--b\r\n\r\nx\r\n--b--", "no headers"),
        (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "Content-Disposition"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "names no field"),
        (b"--b\r\nno colon here\r\n\r\nx\r\n--b--", "is not 'Name: value'"),
        (b"--bjunk\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b--", "boundary line"),
        (b"--b\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n\r\nx\r\n--b--", "exceed"),
    ],
)
def test_malformed_forms_are_400s_saying_why(raw: bytes, phrase: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_form(raw, "b")
    assert info.value.status == 400 and phrase in info.value.message


def test_too_many_parts_and_bad_boundaries_are_refused() -> None:
    many = encode_form([FormPart(f"f{i}", b"") for i in range(MAX_PARTS + 1)])
    with pytest.raises(RequestError, match="more than"):
        parse_form(many.data, boundary_of_body(many.data))
    for header in (
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=a{b",
    ):
        with pytest.raises(RequestError, match="no valid boundary"):
            boundary_of(header)
    assert boundary_of('multipart/form-data; boundary="a b"') == "a b"
    with pytest.raises(RequestError, match="does not start"):
        boundary_of_body(b'{"model": "m"}')


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_a_request_error(raw: bytes) -> None:
    try:
        parse_form(raw, "b")
    except RequestError as error:
        assert error.status == 400
