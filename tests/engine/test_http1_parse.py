"""The pure HTTP/1.1 response parser: framing by length, chunks and close; 1xx; refused answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.engine.http1_parse import END, IncompleteResponse, ResponseHead, ResponseParser
from cocoon.errors import EngineError

URL = "http://engine:8000/v1/chat/completions"


def parse(*pieces: bytes, eof: bool = False) -> tuple[ResponseParser, ResponseHead | None, bytes, bool]:
    """Feed ``pieces``; return the parser, the head, the body and whether `END` came (after one head)."""
    parser = ResponseParser(URL)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    if eof:
        events += parser.feed_eof()
    heads = [e for e in events if isinstance(e, ResponseHead)]
    assert len(heads) <= 1
    body = b"".join(e for e in events if isinstance(e, bytes))
    assert events.count(END) <= 1 and (END not in events or events[-1] is END)
    return parser, (heads[0] if heads else None), body, END in events


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


LENGTH = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": true}'
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
    b"6\r\ndata: \r\n"
    b'A;name=value;flag\r\n{"x": 1}\n\n\r\n'
    b'e ; spaced = "quoted ext"\r\ndata: [DONE]\n\n\r\n'
    b"0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
)
CHUNKED_BODY = b'data: {"x": 1}\n\ndata: [DONE]\n\n'


def test_content_length() -> None:
    parser, head, body, ended = parse(LENGTH)
    assert head is not None and head.status == 200 and head.minor == 1 and head.keep_alive
    assert head.get("content-type") == "application/json"
    assert body == b'{"a": true}' and ended and parser.reusable


def test_chunked_with_extensions_and_trailers() -> None:
    parser, head, body, ended = parse(CHUNKED)
    assert body == CHUNKED_BODY and ended and parser.reusable
    assert head is not None and head.get("transfer-encoding") == "chunked"


@given(st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_gives_the_same_answer(cuts: list[int]) -> None:
    for whole, expected in ((CHUNKED, CHUNKED_BODY), (LENGTH, b'{"a": true}')):
        parser, head, body, ended = parse(*splits(whole, cuts))
        assert head is not None and body == expected and ended and parser.reusable


@pytest.mark.parametrize("whole", [CHUNKED, LENGTH])
def test_byte_by_byte(whole: bytes) -> None:
    parser, head, body, ended = parse(*(whole[i : i + 1] for i in range(len(whole))))
    assert head is not None and ended and parser.reusable
    assert body == (CHUNKED_BODY if whole is CHUNKED else b'{"a": true}')


def test_lf_only_lines_are_accepted() -> None:
    _, head, body, ended = parse(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n")
    assert head is not None and body == b"abc" and ended


def test_until_eof_body_ends_at_close_and_is_not_reused() -> None:
    parser, head, body, ended = parse(b"HTTP/1.1 200 OK\r\n\r\nsome ", b"body", eof=True)
    assert head is not None and body == b"some body" and ended and not parser.reusable


def test_cut_answers_are_incomplete() -> None:
    for cut in (LENGTH[:-1], CHUNKED[:-2], CHUNKED[:60], b"HTTP/1.1 200"):
        parser = ResponseParser(URL)
        parser.feed(cut)
        with pytest.raises(IncompleteResponse):
            parser.feed_eof()


def test_interim_responses_are_skipped() -> None:
    _, head, body, ended = parse(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n" + LENGTH
    )
    assert head is not None and head.status == 200 and body == b'{"a": true}' and ended


def test_connection_close_and_http_10() -> None:
    parser, head, _, _ = parse(
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n"
    )
    assert head is not None and not head.keep_alive and not parser.reusable
    parser, head, _, ended = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert head is not None and head.minor == 0 and ended and not parser.reusable
    parser, _, _, _ = parse(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
    assert parser.reusable


def test_no_body_statuses_and_zero_length() -> None:
    for status in (b"204 No Content", b"304 Not Modified"):
        parser, head, body, ended = parse(b"HTTP/1.1 " + status + b"\r\nContent-Length: 5\r\n\r\n")
        assert head is not None and body == b"" and ended and parser.reusable


def test_bytes_after_the_end_forbid_reuse() -> None:
    parser, _, _, ended = parse(LENGTH + b"HTTP/1.1 200 OK\r\n")
    assert ended and parser.extra and not parser.reusable


def test_chunked_with_content_length_is_chunked_and_never_reused() -> None:
    parser, _, body, ended = parse(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    )
    assert body == b"hi" and ended and not parser.reusable


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 099 Odd\r\n\r\n", "status"),
        (b"ICY 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\n", "Content-Encoding"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "field line"),
        (b"HTTP/1.1 200 OK\r\nName : x\r\n\r\n", "field line"),
        (b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "field line"),
        (b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "field line"),
        (b"HTTP/1.1 200 OK\r\nA: \x00\r\n\r\n", "field line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 1\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "longer than its size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", "trailer"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 20, "interim"),
    ],
)
def test_malformed_answers_are_engine_errors(answer: bytes, why: str) -> None:
    with pytest.raises(EngineError, match=why) as caught:
        ResponseParser(URL).feed(answer)
    assert URL in str(caught.value)


def test_head_size_is_bounded_whatever_the_split() -> None:
    big = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n"
    with pytest.raises(EngineError, match="larger than"):
        ResponseParser(URL).feed(big)
    parser = ResponseParser(URL)
    with pytest.raises(EngineError, match="larger than"):
        for i in range(0, len(big), 1000):
            parser.feed(big[i : i + 1000])
    small = ResponseParser(URL, max_head=100)
    with pytest.raises(EngineError, match="larger than 100"):
        small.feed(b"HTTP/1.1 200 OK\r\nA: " + b"b" * 100)


def test_field_count_is_bounded() -> None:
    many = b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 101 + b"\r\n"
    with pytest.raises(EngineError, match="more than 100 fields"):
        ResponseParser(URL).feed(many)
    trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T: x\r\n" * 101 + b"\r\n"
    with pytest.raises(EngineError, match="more than 100 fields in its trailer"):
        ResponseParser(URL).feed(trailers)


def test_chunk_size_line_is_bounded() -> None:
    parser = ResponseParser(URL)
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")
    with pytest.raises(EngineError, match="chunk-size line too long"):
        parser.feed(b"x" * 5000)
