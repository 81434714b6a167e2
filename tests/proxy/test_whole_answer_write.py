"""A whole answer (its end received with it) goes to the client only after its charge is committed,
head, body and end together; a stream's parts still go out as they come, before its end exists (a
plaintext stream's even when its end came with them)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

from recording_writer import RecordingWriter

from cocoon.net.rpc import RpcConnection
from cocoon.payments.params import NetworkParams
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.routing import Router
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.usage import Usage
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerHead,
    AnswerPart,
    RunQuery,
    WorkerState,
)

MODEL = "m"


def stored(path: Path) -> int:
    """Requests another process would find in the ledger file (what is committed)."""
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM requests").fetchone()[0])


class Stream:
    """A worker's answer; ``whole``: every part (the end included) was received before the first is
    read, as for a non-streamed answer; else each part arrives as it is read, the end last."""

    def __init__(self, parts: list[AnswerPart], whole: bool) -> None:
        self.parts, self.ended = parts, whole

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        for part in self.parts:
            await asyncio.sleep(0)  # a stream's parts arrive one by one
            if isinstance(part, AnswerEnd):
                self.ended = True
            yield part


class Worker:
    def __init__(self, whole: bool, headers: tuple[tuple[str, str], ...]) -> None:
        self.whole, self.headers = whole, headers

    def new_request_id(self) -> int:
        return 1

    async def run_query(self, query: RunQuery) -> Stream:
        rid = query.request_id
        parts: list[AnswerPart] = [
            AnswerHead(rid, 200, self.headers),
            AnswerChunk(rid, b"a"),
            AnswerChunk(rid, b"b"),
            AnswerEnd(rid, Usage(prompt_tokens=3, completion_tokens=2)),
        ]
        return Stream(parts, self.whole)


async def answer(
    tmp_path: Path,
    whole: bool,
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),),
) -> list[tuple[str, int]]:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    ledger.ensure_client("c", 10**15)
    pool = WorkerPool()
    router = Router(pool, ClientBook(ledger, NetworkParams()), "p")
    link = WorkerLink("w", cast(RpcConnection, Worker(whole, headers)), "img")
    link.state = WorkerState(True, MODEL, 1000, 4, 0, "", 0, ("/v1/chat/completions",))
    pool.add(link)
    client = RecordingWriter(observe=lambda: stored(path))
    await router.handle("c", RunQuery(0, MODEL, b"{}", 10**6, 16, 0, client_request_id="r"), client)
    assert router.counters.succeeded == 1
    return client.written


async def test_a_whole_answer_is_written_only_after_its_charge_is_committed(tmp_path: Path) -> None:
    assert await answer(tmp_path, whole=True) == [("head", 1), ("a", 1), ("b", 1), ("end", 1)]


async def test_a_streams_parts_are_written_as_they_come_before_its_end(tmp_path: Path) -> None:
    assert await answer(tmp_path, whole=False) == [("head", 0), ("a", 0), ("b", 0), ("end", 1)]


async def test_a_plaintext_streams_parts_are_not_held_even_when_its_end_came_with_them(
    tmp_path: Path,
) -> None:
    sse = (("content-type", "text/event-stream"),)
    assert await answer(tmp_path, whole=True, headers=sse) == [("head", 0), ("a", 0), ("b", 0), ("end", 1)]
