"""The fast lane's wire rules: which requests it takes, and how it frames answers (pure)."""

from __future__ import annotations

import pytest

from cocoon.client.http1_lane import (
    HANDOVER,
    LAST_CHUNK,
    MAX_FIELDS,
    MAX_HEAD,
    NEED_MORE,
    LaneRequest,
    chunk,
    recognize,
    response_head,
)

PATHS = frozenset({"/v1/chat/completions", "/v1/embeddings"})
BODY = b'{"model":"m","messages":[]}'
# What the openai SDK sends (httpx), fields as it writes them.
SDK_HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:10000\r\nAccept-Encoding: gzip, deflate\r\n"
    b"Connection: keep-alive\r\nAccept: application/json\r\nContent-Type: application/json\r\n"
    b"User-Agent: OpenAI/Python 1.0\r\nAuthorization: Bearer sk-x\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
)


def test_an_sdk_request_is_taken_with_its_fields_and_body_bounds() -> None:
    data = SDK_HEAD + BODY
    found = recognize(data, PATHS, 1000)
    assert isinstance(found, LaneRequest)
    assert found.path == "/v1/chat/completions" and found.keep_alive
    assert found.fields["authorization"] == "Bearer sk-x"
    assert found.fields["content-type"] == "application/json"
    assert data[found.body_start : found.end] == BODY and found.end == len(data)


def test_every_prefix_of_a_request_waits_for_more_and_never_hands_over() -> None:
    data = SDK_HEAD + BODY
    head_end = len(SDK_HEAD)
    for cut in range(len(data)):
        found = recognize(data[:cut], PATHS, 1000)
        if cut < head_end:
            assert found is NEED_MORE, cut
        else:  # the head is whole: taken, the body still to come
            assert isinstance(found, LaneRequest) and found.end == len(data), cut


@pytest.mark.parametrize(
    "data",
    [
        SDK_HEAD + BODY,
        b"POST /v1/embeddings HTTP/1.1\r\nX: a\nb\r\nContent-Length: 2\r\n\r\n{}",  # a bare LF
        b"POST /v1/embeddings HTTP/1.1\nContent-Length: 2\n\n{}",
        b"POST /v1/embeddings HTTP/1.1\r\n\r\r\nContent-Length: 2\r\n\r\n{}",
    ],
)
def test_looking_only_at_new_bytes_gives_the_same_answer_as_reading_all(data: bytes) -> None:
    """The shell passes ``scanned`` after a NEED_MORE: every split into two arrivals agrees with one
    reading of the whole, a CRLF or the head's end cut between the two included."""
    for first in range(len(data)):
        if recognize(data[:first], PATHS, 1000) is not NEED_MORE:
            continue
        for second in range(first + 1, len(data) + 1):
            whole = recognize(data[:second], PATHS, 1000)
            assert recognize(data[:second], PATHS, 1000, scanned=first) == whole, (first, second)


def test_pipelined_requests_are_taken_one_at_a_time() -> None:
    data = (SDK_HEAD + BODY) * 2
    first = recognize(data, PATHS, 1000)
    assert isinstance(first, LaneRequest)
    second = recognize(data[first.end :], PATHS, 1000)
    assert isinstance(second, LaneRequest) and second.end == first.end


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"Connection: close\r\n", False),
        (b"Connection: Keep-Alive\r\n", True),
        (b"Connection: keep-alive, close\r\n", False),
        (b"", True),
    ],
)
def test_connection_says_whether_the_connection_stays(head: bytes, keep_alive: bool) -> None:
    data = b"POST /v1/embeddings HTTP/1.1\r\n" + head + b"Content-Length: 2\r\n\r\n{}"
    found = recognize(data, PATHS, 1000)
    assert isinstance(found, LaneRequest) and found.keep_alive is keep_alive


@pytest.mark.parametrize(
    "data",
    [
        b"GET /v1/chat/completions HTTP/1.1\r\n\r\n",
        b"POST /v1/models HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        b"POST http://h/v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\n\r\n",  # no length
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1001\r\n\r\n",  # past max_body
        b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nOrigin: https://a.example\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nUpgrade: h2c\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nConnection: upgrade\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length : 2\r\n\r\n{}",  # space before colon
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n folded\r\n\r\n{}",  # obs-fold
        b"POST /v1/chat/completions HTTP/1.1\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nX: a\rb\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\nContent-Length: 2\n\n{}",  # bare LF line ends
        b"POST  /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        b"\r\nPOST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    ],
)
def test_anything_but_the_plainest_hot_request_goes_to_aiohttp(data: bytes) -> None:
    assert recognize(data, PATHS, 1000) is HANDOVER


def test_a_head_longer_than_the_bound_goes_to_aiohttp_even_unfinished() -> None:
    data = b"POST /v1/chat/completions HTTP/1.1\r\nX: " + b"a" * 200
    assert recognize(data, PATHS, 1000, max_head=100) is HANDOVER
    assert recognize(data, PATHS, 1000, max_head=1000) is NEED_MORE


def test_a_head_past_aiohttps_bounds_goes_to_aiohttp() -> None:
    start = b"POST /v1/embeddings HTTP/1.1\r\nContent-Length: 0\r\n"
    many = start + b"".join(b"X-%d: v\r\n" % i for i in range(MAX_FIELDS)) + b"\r\n"
    assert len(many) < MAX_HEAD and recognize(many, PATHS, 1000) is HANDOVER  # one field too many
    assert isinstance(
        recognize(start + b"".join(b"X-%d: v\r\n" % i for i in range(MAX_FIELDS - 1)) + b"\r\n", PATHS, 1000),
        LaneRequest,
    )
    long = start + b"X: " + b"a" * MAX_HEAD + b"\r\n\r\n"
    assert recognize(long, PATHS, 1000) is HANDOVER


def test_a_long_value_with_a_control_character_is_refused_at_once() -> None:
    # The field pattern has no nested repetition over the same characters: no backtracking blow-up.
    value = b"a b" * 5000 + b"\x01"
    data = b"POST /v1/chat/completions HTTP/1.1\r\nX: " + value + b"\r\nContent-Length: 2\r\n\r\n{}"
    assert recognize(data, PATHS, 1000, max_head=len(data)) is HANDOVER


def test_values_keep_inner_blanks_and_lose_surrounding_ones() -> None:
    data = b"POST /v1/embeddings HTTP/1.1\r\nX-A: \t one  two \t\r\nX-B:\r\nContent-Length: 0\r\n\r\n"
    found = recognize(data, PATHS, 1000)
    assert isinstance(found, LaneRequest)
    assert found.fields["x-a"] == "one  two" and found.fields["x-b"] == ""


def test_a_whole_answer_head_carries_its_length_and_replaces_framing_fields() -> None:
    head = response_head(
        200,
        {"Content-Type": "application/json", "Content-Length": "999", "X-Cocoon-Worker": "w"},
        length=12,
        close=False,
        date="Mon, 07 Dec 2026 10:00:00 GMT",
    )
    assert head == (
        b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 10:00:00 GMT\r\nContent-Type: application/json\r\n"
        b"X-Cocoon-Worker: w\r\nContent-Length: 12\r\n\r\n"
    )


def test_a_stream_head_is_chunked_and_close_is_said() -> None:
    head = response_head(429, {"Retry-After": "5"}, length=None, close=True, date="D")
    assert head == (
        b"HTTP/1.1 429 Too Many Requests\r\nDate: D\r\nRetry-After: 5\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Cocoon-Worker": "w\r\nSet-Cookie: a=b"},
        {"X-Cocoon-Worker": "w\nX: y"},
        {"X-A": "ok", "X-Cocoon-Worker": "w\x00"},
        {"Bad Name": "v"},
        {"": "v"},
        {"X-A": "ok", "": "v"},
        {"X:A": "v"},
    ],
)
def test_a_header_that_would_break_the_head_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="HTTP cannot carry"):
        response_head(200, headers, length=0, close=False, date="D")


def test_chunks_are_framed_with_their_hex_length() -> None:
    assert chunk(b"data: x\n\n") == b"9\r\ndata: x\n\n\r\n"
    assert chunk(b"a" * 255) == b"ff\r\n" + b"a" * 255 + b"\r\n"
    assert LAST_CHUNK == b"0\r\n\r\n"
