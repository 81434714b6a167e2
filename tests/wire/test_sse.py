"""The incremental SSE parser: standard cases, OpenAI streams, and any split of a stream."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocoon.errors import DecodeError
from cocoon.wire.sse import DONE_EVENT, SseEvent, SseParser, encode_event


def parse_all(chunks: list[bytes]) -> tuple[list[SseEvent], SseParser]:
    parser = SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events, parser


def test_openai_stream_events_and_done() -> None:
    stream = b'data: {"a": 1}\n\ndata: {"b": 2}\n\n' + DONE_EVENT
    events, parser = parse_all([stream])
    assert [e.data for e in events] == ['{"a": 1}', '{"b": 2}', "[DONE]"]
    assert [e.is_done for e in events] == [False, False, True]
    assert parser.done
    assert not parser.truncated
    assert b"".join(e.raw for e in events) == stream


def test_crlf_and_lone_cr_line_endings() -> None:
    events, _ = parse_all([b"data: x\r\n\r\ndata: y\r\rdata: z\n\n"])
    assert [e.data for e in events] == ["x", "y", "z"]


def test_cr_split_from_lf_across_feeds_is_one_line_end() -> None:
    parser = SseParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n\r") == []
    # "\r\n\r" + "\n" would be two line ends with a blank line between: one event, not two.
    events = parser.feed(b"\ndata: y\n\n")
    assert [e.data for e in events] == ["x", "y"]


def test_comments_multiline_data_fields_and_unknown_fields() -> None:
    stream = b": ping\n\nevent: delta\nid: 7\nretry: 1500\nfoo: bar\ndata: line1\ndata:line2\ndata\n\n"
    events, _ = parse_all([stream])
    assert events == [
        SseEvent(data="line1\nline2\n", event="delta", id="7", retry=1500, raw=stream[len(b": ping\n\n") :])
    ]


def test_block_without_data_is_not_an_event() -> None:
    events, _ = parse_all([b"event: x\nid: 1\n\n: only a comment\n\n"])
    assert events == []


def test_unterminated_event_is_dropped_and_reported_truncated() -> None:
    events, parser = parse_all([b"data: a\n\ndata: half"])
    assert [e.data for e in events] == ["a"]
    assert parser.truncated
    assert not parser.done


def test_bom_is_stripped_even_when_split() -> None:
    events, _ = parse_all([b"\xef", b"\xbb", b"\xbfdata: x\n\n"])
    assert [e.data for e in events] == ["x"]


def test_utf8_split_inside_a_character() -> None:
    payload = "data: héllo ✓\n\n".encode()
    cut = payload.index("✓".encode()) + 1
    events, _ = parse_all([payload[:cut], payload[cut:]])
    assert events[0].data == "héllo ✓"


def test_overlong_event_is_a_decode_error() -> None:
    parser = SseParser(max_event=16)
    with pytest.raises(DecodeError, match="longer than 16"):
        parser.feed(b"data: " + b"x" * 32)


def test_encode_event_multiline_and_named() -> None:
    assert encode_event("a\nb", event="e") == b"event: e\ndata: a\ndata: b\n\n"
    events, _ = parse_all([encode_event("a\r\nb\rc")])
    assert events[0].data == "a\nb\nc"


@settings(deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20), max_size=5))
def test_encode_event_round_trips_through_the_parser(events: list[str]) -> None:
    """Any data, line breaks included, comes back from the parser; ``\\r\\n`` and ``\\r`` read as ``\\n``."""
    parsed, parser = parse_all([b"".join(encode_event(data) for data in events)])
    assert [e.data for e in parsed] == [d.replace("\r\n", "\n").replace("\r", "\n") for d in events]
    assert not parser.truncated


def test_encode_event_frames_each_line_of_multi_line_data() -> None:
    assert encode_event(b'{"a":\n1}') == b'data: {"a":\ndata: 1}\n\n'
    assert encode_event("last line empty\n") == b"data: last line empty\ndata: \n\n"
    assert DONE_EVENT == b"data: [DONE]\n\n"


# --- any split of a valid stream yields the same events -------------------------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_line_end = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A stream built from random events, comments and line endings, and the data it must yield."""
    out = bytearray()
    expected: list[str] = []

    def end() -> bytes:
        # "\r" then "\n" would read as one "\r\n" line end: keep them apart.
        ending = draw(_line_end)
        return b"\r\n" if ending == b"\n" and out.endswith(b"\r") else ending

    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            comment = draw(_text).replace("\r", " ").replace("\n", " ")
            out += b":" + comment.encode()
            out += end()
        lines = draw(st.lists(_text.map(lambda s: s.replace("\r", " ").replace("\n", " ")), min_size=1))
        for line in lines:
            out += b"data: " + line.encode()
            out += end()
        out += end()
        expected.append("\n".join(lines))
    return bytes(out), expected


@settings(deadline=None)  # tiny examples; a loaded CI machine must not make them flaky
@given(streams(), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_split_gives_the_same_events(stream: tuple[bytes, list[str]], cuts: list[int]) -> None:
    data, expected = stream
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    whole, _ = parse_all([data])
    split, _ = parse_all(pieces)
    assert [e.data for e in whole] == expected
    assert split == whole


@settings(deadline=None)
@given(streams())
def test_one_event_per_feed_gives_the_same_events(stream: tuple[bytes, list[str]]) -> None:
    """Feeding exactly one event's bytes at a time (how engines send them; `feed` parses such a chunk
    without buffering when it is a single LF-ended data line) changes nothing."""
    data, _ = stream
    whole, _ = parse_all([data])
    one_by_one, _ = parse_all([event.raw for event in whole])
    assert one_by_one == whole


def test_a_whole_event_chunk_keeps_the_fields_of_earlier_blocks() -> None:
    parser = SseParser()
    assert parser.feed(b"id: 7\nretry: 10\n\n") == []  # no data: not an event, but id and retry stay
    assert parser.feed(b"data:x\n\n") == [SseEvent("x", "message", "7", 10, b"data:x\n\n")]
    assert parser.feed(b"event: delta\n") == []
    assert parser.feed(b"data: y\n\n") == [SseEvent("y", "delta", "7", 10, b"event: delta\ndata: y\n\n")]
    assert parser.feed(b"data: \n\n") == [SseEvent("", "message", "7", 10, b"data: \n\n")]
    assert not parser.done
    assert parser.feed(DONE_EVENT)[0].is_done and parser.done


def _byte_by_byte(data: bytes, prefix: bytes = b"") -> list[SseEvent]:
    """The events of ``prefix`` then ``data`` fed a byte at a time: always the line-by-line parse."""
    parser = SseParser()
    parser.feed(prefix)
    return [e for i in range(len(data)) for e in parser.feed(data[i : i + 1])]


@pytest.mark.parametrize(
    "burst",
    [
        b'data: {"a": 1}\n\ndata:{"b": 2}\n\ndata: \n\ndata: [DONE]\n\n',  # the burst fast path
        b"data: a\n\n\ndata: b\n\n",  # an extra blank line: general path
        b"data: a\n\ndata: b\n\n\n",  # a trailing blank line
        b"data: a\ndata: b\n\ndata: c\n\n",  # a multi-line event
        b"data: a\n\n: ping\n\ndata: b\n\n",  # a comment between events
        b"data: a\n\nevent: x\ndata: b\n\n",  # a named event
        b"data: a\n\ndatum: b\n\n",  # another field
        b"data: a\n\ndata: b",  # an unfinished event
    ],
)
def test_a_burst_of_events_in_one_feed_parses_as_line_by_line(burst: bytes) -> None:
    prefix = b"id: 7\nretry: 10\n\n"  # fields of earlier blocks carry over into the burst's events
    parser = SseParser()
    parser.feed(prefix)
    assert parser.feed(burst) == _byte_by_byte(burst, prefix)
    assert parser.done == burst.endswith(DONE_EVENT)
    assert parser.truncated == burst.endswith(b"b")


@settings(deadline=None)
@given(streams(), st.lists(st.integers(0, 10_000), max_size=12))
def test_data_values_reads_what_feed_would_and_leaves_the_rest_to_it(
    stream: tuple[bytes, list[str]], cuts: list[int]
) -> None:
    """Any split of any stream, each piece offered to `data_values` first and fed when it declines:
    the same data and the same state as feeding every piece."""
    data, expected = stream
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    fed, parser = parse_all(pieces)
    offered = SseParser()
    values: list[str] = []
    for piece in pieces:
        taken = offered.data_values(piece)
        if taken is None:
            values += [event.data for event in offered.feed(piece)]
        else:
            values += [value.decode("utf-8", "replace") for value in taken]
    values += [event.data for event in offered.close()]
    assert values == [event.data for event in fed] == expected
    assert (offered.done, offered.truncated) == (parser.done, parser.truncated)


def test_data_values_takes_only_whole_one_line_data_events_at_an_event_boundary() -> None:
    parser = SseParser()
    assert parser.data_values(b'data: {"a": 1}\n\ndata:{"b": 2}\n\n') == [b'{"a": 1}', b'{"b": 2}']
    assert not parser.done
    assert parser.data_values(b"data: a\ndata: b\n\n") is None  # a multi-line event
    assert parser.data_values(b"data: a\r\n\r\n") is None  # CR line ends
    assert parser.feed(b"data: half") == []
    assert parser.data_values(b"data: x\n\n") is None  # an event is half-read: feed finishes it
    assert parser.feed(b"\n\n")[0].data == "half"
    assert parser.data_values(b"data: \n\ndata: [DONE]\n\n") == [b"", b"[DONE]"] and parser.done
