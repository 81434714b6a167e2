"""`EventRelay`: what a stream's chunks become for the caller is `relay_events`' result, chunk by chunk,
whether a chunk takes the short way (passed on unparsed) or the parser's."""

from __future__ import annotations

import pytest

from cocoon.client.openai_out import EventRelay, StreamShape, relay_events
from cocoon.wire.sse import SseEvent, SseParser

TOKEN = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
UTF8 = 'data: {"choices":[{"delta":{"content":"h\u00e9 \U0001f600"}}]}\n\n'.encode()
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
DONE = b"data: [DONE]\n\n"
MENTIONS = b'data: {"choices":[{"index":0,"delta":{"content":"\\"usage\\" [DONE]"}}]}\n\n'
NULL_USAGE = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'

STREAMS = {
    "plain tokens": [TOKEN, TOKEN, UTF8, TOKEN + USAGE + DONE],
    "several events per chunk": [TOKEN + TOKEN, UTF8 + TOKEN, USAGE, DONE],
    "split mid-event": [TOKEN[:10], TOKEN[10:] + TOKEN, TOKEN[:-1], b"\n" + TOKEN, USAGE + DONE],
    "a byte-order mark first": [b"\xef\xbb\xbf" + TOKEN, TOKEN, USAGE],
    "a partial mark first": [b"\xef", b"\xbb\xbf" + TOKEN, TOKEN, DONE],
    "a mark mid-stream is data, not a mark": [TOKEN, b"\xef\xbb\xbf" + TOKEN, TOKEN],
    "crlf and comments": [TOKEN, TOKEN.replace(b"\n", b"\r\n"), b": ping\n\n" + TOKEN, TOKEN],
    "multi-line data and no space": [TOKEN, b'data: {"a":\ndata: 1}\n\n', b'data:{"b":2}\n\n', TOKEN],
    "invalid utf-8": [TOKEN, b'data: {"x":"\xff"}\n\n', TOKEN],
    "empty data and blank lines": [TOKEN, b"data: \n\n", TOKEN + b"\n\n", TOKEN],
    "named events": [TOKEN, b"event: note\ndata: {}\n\n", TOKEN],
    "empty chunks": [b"", TOKEN, b"", TOKEN],
    "a burst whole in its first chunk": [TOKEN + UTF8 + TOKEN + USAGE + DONE],
    "plain first, then a mark mid-stream": [TOKEN + TOKEN, b"\xef\xbb\xbf" + TOKEN, TOKEN[:5]],
    "plain first, then split": [TOKEN, TOKEN[:10], TOKEN[10:] + USAGE, DONE],
    "a burst whose text mentions usage and [DONE]": [TOKEN + MENTIONS + TOKEN + USAGE + DONE, MENTIONS],
    "a burst with an event without the space": [TOKEN + b'data:{"b":2}\n\n' + TOKEN + USAGE + DONE],
    "a usage of null in every event": [NULL_USAGE + NULL_USAGE, NULL_USAGE + USAGE + DONE],
    "two usage chunks: the last is held": [TOKEN + USAGE + TOKEN + USAGE + DONE],
}


def _reference(chunks: list[bytes], shape: StreamShape) -> list[tuple[bytes, bytes | None]]:
    parser = SseParser()
    return [relay_events(parser, chunk, shape) for chunk in chunks]


@pytest.mark.parametrize("shape", list(StreamShape))
@pytest.mark.parametrize("name", list(STREAMS))
def test_every_chunk_gives_what_the_parser_would(name: str, shape: StreamShape) -> None:
    relay = EventRelay(shape)
    assert [relay.feed(chunk) for chunk in STREAMS[name]] == _reference(STREAMS[name], shape)


class _CountingParser(SseParser):
    def __init__(self) -> None:
        super().__init__()
        self.fed: list[bytes] = []

    def feed(self, data: bytes) -> list[SseEvent]:
        self.fed.append(data)
        return super().feed(data)


def test_plain_chunks_are_passed_on_unparsed() -> None:
    relay = EventRelay()
    relay.parser = parser = _CountingParser()
    assert relay.feed(TOKEN) == (TOKEN, None)  # the first: it starts with "data: ", so with no mark
    assert relay.feed(TOKEN + UTF8) == (TOKEN + UTF8, None)
    assert relay.feed(TOKEN + USAGE + DONE) == (TOKEN, USAGE[len(b"data: ") : -2])
    assert relay.feed(TOKEN[:10]) == (b"", None)  # half an event: the parser's
    assert relay.feed(TOKEN[10:]) == (TOKEN, None)  # the rest of it too
    assert parser.fed == [b"\n", TOKEN[:10], TOKEN[10:]]  # the blank line: it has begun
