"""The load generator: a raw-asyncio HTTP/1.1 keep-alive client, identical for every setup.

``concurrency`` connections each send one request after another until the measurement's deadline;
each request's latency (to the end of the answer) and time to the first content token (a non-empty
``"content":"`` in the body) are recorded. Answers are checked: status 200 and, for a stream, the
``[DONE]`` end. Bodies are parsed only as far as that needs (Content-Length or chunked framing).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CONTENT_MARK = b'"content":"'


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of load: how many connections, streamed or not, tokens per answer, pacing."""

    name: str
    concurrency: int
    stream: bool
    tokens: int
    pace_ms: int = 0


@dataclass
class RunResult:
    """What one measurement saw (seconds)."""

    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    first_error: str = ""


def request_bytes(host: str, port: int, path: str, model: str, scenario: Scenario) -> bytes:
    """The raw HTTP/1.1 request of ``scenario`` (pure)."""
    content = "Say something." + (f" pace_ms={scenario.pace_ms}" if scenario.pace_ms else "")
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": scenario.tokens,
    }
    if scenario.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


class Conn(asyncio.Protocol):
    """One keep-alive connection running one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._done: asyncio.Future[int] | None = None
        self._reset()

    def _reset(self) -> None:
        self.buf = b""
        self.head_done = False
        self.status = 0
        self.length = -1  # Content-Length, or -1 for chunked
        self.left = 0  # bytes of body (or of the current chunk) still to come; -1: CRLF; -2: last CRLF
        self.tail = b""
        self.first = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError(f"connection lost mid-answer: {exc}"))

    async def request(self, raw: bytes) -> tuple[int, float, bytes]:
        """(status, perf_counter of the first content token or 0, the last bytes of the body)."""
        assert self.transport is not None
        self._reset()
        self._done = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        status = await self._done
        return status, self.first, self.tail

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].split(b"\r\n")
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                key = name.strip().lower()
                if key == b"content-length":
                    self.length = self.left = int(value)
                elif key == b"transfer-encoding" and b"chunked" in value.lower():
                    self.length = -1
            self.head_done = True
            self.buf = self.buf[end + 4 :]
        if self.length >= 0:
            self._body(self.buf[: self.left])
            self.left -= min(self.left, len(self.buf))
            self.buf = b""
            if self.left == 0:
                self._finish()
        else:
            self._chunked()

    def _chunked(self) -> None:
        buf, pos = self.buf, 0
        while True:
            if self.left > 0:
                piece = buf[pos : pos + self.left]
                self._body(piece)
                pos += len(piece)
                self.left -= len(piece)
                if self.left:
                    break
                self.left = -1
            if self.left < 0:
                if len(buf) - pos < 2:
                    break
                pos += 2
                if self.left == -2:
                    self.buf = b""
                    self._finish()
                    return
                self.left = 0
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(buf[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            self.left = size if size else -2
        self.buf = buf[pos:]

    def _body(self, piece: bytes) -> None:
        if not self.first:
            seen = self.tail + piece
            at = seen.find(CONTENT_MARK)
            while at >= 0:
                if seen[at + len(CONTENT_MARK) : at + len(CONTENT_MARK) + 1] not in (b'"', b""):
                    self.first = time.perf_counter()
                    break
                at = seen.find(CONTENT_MARK, at + 1)
        self.tail = (self.tail + piece)[-32:]

    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(self.status)


async def _connect(host: str, port: int) -> Conn:
    _, conn = await asyncio.get_running_loop().create_connection(Conn, host, port)
    return conn


async def run(
    host: str,
    port: int,
    raw: bytes,
    scenario: Scenario,
    duration_s: float,
    *,
    warmup: int = 2,
    on_start: Callable[[], None] = lambda: None,
    timeout_s: float = 120.0,
) -> RunResult:
    """Drive ``scenario`` for ``duration_s`` after ``warmup`` requests per connection.

    ``on_start`` runs between the warm-up and the measurement (e.g. to take CPU readings); the
    measurement ends when the last request started before the deadline has ended.
    """
    result = RunResult()
    conns = [await _connect(host, port) for _ in range(scenario.concurrency)]

    async def one(index: int, record: bool) -> None:
        conn = conns[index]
        if conn.lost:
            conn = conns[index] = await _connect(host, port)
        started = time.perf_counter()
        try:
            status, first, tail = await conn.request(raw)
        except ConnectionError as exc:
            result.errors += record
            result.first_error = result.first_error or str(exc)
            conns[index] = await _connect(host, port)
            return
        ended = time.perf_counter()
        if status != 200 or (scenario.stream and b"[DONE]" not in tail):
            result.errors += record
            result.first_error = result.first_error or f"status {status}, answer ends {tail!r}"
            return
        if record:
            result.ok += 1
            result.latencies.append(ended - started)
            result.ttfts.append((first or ended) - started)

    async def loop(index: int, deadline: float) -> None:
        while time.perf_counter() < deadline:
            await one(index, True)

    async def warm(index: int) -> None:
        for _ in range(warmup):
            await one(index, False)

    try:
        await asyncio.wait_for(asyncio.gather(*(warm(i) for i in range(len(conns)))), timeout_s)
        on_start()
        started = time.perf_counter()
        deadline = started + duration_s
        await asyncio.wait_for(asyncio.gather(*(loop(i, deadline) for i in range(len(conns)))), timeout_s)
        result.elapsed = time.perf_counter() - started
    finally:
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    return result
