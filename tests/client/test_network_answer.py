"""`NetworkAnswer`'s deadline: an answer not whole by then ends in a 504 and its request is cancelled;
an answer already whole, and a reader busy between two parts, are left alone; a lost connection is a
502."""

from __future__ import annotations

import asyncio

from cocoon.client.network_answer import NetworkAnswer
from cocoon.errors import ConnectionClosedError
from cocoon.net.rpc import RpcAnswerStream
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart

LIMIT = 1 << 20


class Requests:
    """The requester's side as `cocoon.net.rpc_request` behaves: cancelling a request that has not
    ended fails its stream, one that has ended is over already."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.stream = RpcAnswerStream(7, self.cancel)

    def cancel(self, request_id: int, reason: str) -> bool:
        if self.stream.ended:
            return False
        self.cancelled.append(reason)
        self.stream.fail_cancelled(reason)
        return True


async def read(answer: NetworkAnswer, pause_after_first: float = 0.0) -> list[AnswerPart]:
    parts = []
    async for part in answer:
        parts.append(part)
        if len(parts) == 1 and pause_after_first:
            await asyncio.sleep(pause_after_first)  # e.g. writing to a slow app
    return parts


async def test_an_answer_not_whole_by_its_deadline_ends_in_a_504_and_is_cancelled() -> None:
    requests = Requests()
    requests.stream.feed(AnswerHead(7, 200, ()), LIMIT)
    requests.stream.feed(AnswerChunk(7, b"partial"), LIMIT)
    parts = await read(NetworkAnswer(requests.stream, 0.05, "p"))
    assert parts[:2] == [AnswerHead(7, 200, ()), AnswerChunk(7, b"partial")]
    end = parts[2]
    assert isinstance(end, AnswerError) and (end.status, end.code) == (504, "timeout")
    assert end.message == "no complete answer within 0.05 s"
    assert requests.cancelled == ["deadline passed"]


async def test_an_answer_whole_in_the_buffer_is_read_whole_after_its_deadline() -> None:
    requests = Requests()
    requests.stream.feed(AnswerHead(7, 200, ()), LIMIT)
    reading = aiter(NetworkAnswer(requests.stream, 0.02, "p"))
    assert await anext(reading) == AnswerHead(7, 200, ())  # the deadline runs from here
    for part in (AnswerChunk(7, b"all"), AnswerEnd(7)):
        requests.stream.feed(part, LIMIT)
    await asyncio.sleep(0.05)  # past the deadline, the rest unread but all there
    assert [part async for part in reading] == [AnswerChunk(7, b"all"), AnswerEnd(7)]
    assert requests.cancelled == []


async def test_a_reader_busy_between_two_parts_is_not_cancelled() -> None:
    requests = Requests()
    for part in (AnswerHead(7, 200, ()), AnswerChunk(7, b"a"), AnswerEnd(7)):
        requests.stream.feed(part, LIMIT)
    parts = await read(NetworkAnswer(requests.stream, 0.02, "p"), pause_after_first=0.05)
    assert parts == [AnswerHead(7, 200, ()), AnswerChunk(7, b"a"), AnswerEnd(7)]


async def test_a_lost_connection_is_a_502_naming_the_proxy() -> None:
    requests = Requests()
    requests.stream.feed(AnswerHead(7, 200, ()), LIMIT)
    requests.stream.fail(ConnectionClosedError("peer closed the TCP connection"))
    parts = await read(NetworkAnswer(requests.stream, 5.0, "proxy-a"))
    end = parts[-1]
    assert isinstance(end, AnswerError) and (end.status, end.code) == (502, "upstream_error")
    assert "proxy proxy-a connection lost: peer closed the TCP connection" in end.message
    assert requests.cancelled == []
