"""The in-memory ByteStream pair used as a test double for RpcConnection: order, back-pressure, EOF."""

from __future__ import annotations

import asyncio

from cocoon.net.stream import memory_stream_pair


async def test_bytes_arrive_in_order_and_close_is_eof_after_the_data() -> None:
    left, right = memory_stream_pair()
    left.write(b"abc")
    left.write(b"def")
    await left.aclose()
    left.write(b"ignored after close")
    assert await asyncio.wait_for(right.read(4), 1) == b"abcd"
    assert await asyncio.wait_for(right.read(), 1) == b"ef"
    assert await asyncio.wait_for(right.read(), 1) == b""


async def test_drain_waits_until_the_peer_reads_below_the_limit() -> None:
    left, right = memory_stream_pair(limit=10)
    left.write(b"x" * 25)
    draining = asyncio.ensure_future(left.drain())
    # Negative checks ("drain stays blocked"): the sleeps give a wrongly woken drain time to finish.
    await asyncio.sleep(0.01)
    assert not draining.done()  # 25 unread bytes > 10
    assert len(await right.read(10)) == 10
    await asyncio.sleep(0.01)
    assert not draining.done()  # still 15 unread
    await right.read(10)
    await asyncio.wait_for(draining, 1)


async def test_closing_releases_a_blocked_reader_and_writer() -> None:
    left, right = memory_stream_pair(limit=1)
    reading = asyncio.ensure_future(right.read())
    left.write(b"xx")
    assert await asyncio.wait_for(reading, 1) == b"xx"
    left.write(b"yy")
    draining = asyncio.ensure_future(left.drain())
    await asyncio.sleep(0.01)  # negative check: a drain that does not block would finish meanwhile
    assert not draining.done()
    await right.aclose()
    await asyncio.wait_for(draining, 1)
    assert await asyncio.wait_for(left.read(), 1) == b""
