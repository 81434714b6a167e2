"""A fake OpenAI backend on raw asyncio (one process), fast enough never to be the bottleneck.

Serves what a worker asks of an engine: ``GET /v1/models``, ``GET /health``, ``POST
/v1/chat/completions`` (``GET`` there answers 405, as a POST-only route does), 404 elsewhere. An answer
has ``max_tokens`` tokens (16 when absent). Streamed answers use chunked transfer encoding and end with a
usage chunk when ``stream_options.include_usage`` is set (as vLLM does), then ``data: [DONE]``.

Pacing: when the last message's content holds ``pace_ms=N``, the first token goes out at once and
every later one on a shared ticker every N ms (all paced streams advance in lockstep, as a batching
engine's decode steps do; one timer for all streams, not one per token). Without it, the whole stream
is written at once.

    python benchmarks/anchors/backend.py --port 0     # prints "ready <port>" when listening
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

MODEL = "bench-fake"
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
_PACE = re.compile(r"pace_ms=(\d+)")
_MODELS = json.dumps(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench", "max_model_len": 4096}]}
).encode()


def _head(status: str, ctype: bytes, length: int | None) -> bytes:
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\n%s\r\n\r\n" % (status.encode(), ctype, framing)


def _whole(status: str, body: bytes) -> bytes:
    return _head(status, b"application/json", len(body)) + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def answer_events(tokens: int, prompt_tokens: int, include_usage: bool) -> list[bytes]:
    """The SSE events of one streamed chat answer: one per token, then the end (pure)."""
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
    events = []
    for i in range(tokens):
        delta: dict[str, str] = {"content": WORDS[i % len(WORDS)] + " "}
        if i == 0:
            delta = {"role": "assistant", **delta}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        events.append(_event({**head, "choices": [choice]}))
    end = _event({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    if include_usage:
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens}
        usage["total_tokens"] = prompt_tokens + tokens
        end += _event({**head, "choices": [], "usage": usage})
    events.append(end + b"data: [DONE]\n\n")
    return events


def whole_answer(tokens: int, prompt_tokens: int) -> bytes:
    """The JSON body of a non-streamed chat answer (pure)."""
    text = "".join(WORDS[i % len(WORDS)] + " " for i in range(tokens))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens}
    usage["total_tokens"] = prompt_tokens + tokens
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": "length"}
    body = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": MODEL}
    return json.dumps({**body, "choices": [choice], "usage": usage}, separators=(",", ":")).encode()


class Ticker:
    """Advances every paced stream by one token every ``interval`` seconds (one timer for all)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.streams: list[tuple[asyncio.Transport, list[bytes]]] = []
        self._running = False

    def add(self, transport: asyncio.Transport, rest: list[bytes]) -> None:
        self.streams.append((transport, rest))
        if not self._running:
            self._running = True
            loop = asyncio.get_running_loop()
            loop.call_later(self.interval, self._tick, loop.time() + self.interval)

    def _tick(self, due: float) -> None:
        kept = []
        for transport, rest in self.streams:
            if transport.is_closing():
                continue
            transport.write(_chunk(rest.pop(0)) + (b"" if rest else b"0\r\n\r\n"))
            if rest:
                kept.append((transport, rest))
        self.streams = kept
        if not kept:
            self._running = False
            return
        loop = asyncio.get_running_loop()
        nxt = max(due + self.interval, loop.time())  # catch up without bursts after a stall
        loop.call_at(nxt, self._tick, nxt)


TICKERS: dict[int, Ticker] = {}


class BackendProtocol(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection (requests in order; bodies by Content-Length)."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            method, path = head[0].split(" ")[:2]
            self.handle(method, path.split("?")[0], body)

    def handle(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if path == "/v1/chat/completions" and method == "POST":
            self.chat(body)
        elif path == "/v1/models" and method == "GET":
            self.transport.write(_whole("200 OK", _MODELS))
        elif path == "/health":
            self.transport.write(_whole("200 OK", b"{}"))
        elif path == "/v1/chat/completions":
            self.transport.write(_whole("405 Method Not Allowed", b'{"error":{"message":"use POST"}}'))
        else:
            self.transport.write(_whole("404 Not Found", b'{"error":{"message":"no such route"}}'))

    def chat(self, body: bytes) -> None:
        assert self.transport is not None
        try:
            request = json.loads(body)
            tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 16)
            content = str(request["messages"][-1].get("content", ""))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            message = json.dumps({"error": {"message": f"bad request: {exc}"}}).encode()
            self.transport.write(_whole("400 Bad Request", message))
            return
        prompt = max(1, len(content.split()))
        if not request.get("stream"):
            self.transport.write(_whole("200 OK", whole_answer(tokens, prompt)))
            return
        usage = bool((request.get("stream_options") or {}).get("include_usage"))
        events = answer_events(tokens, prompt, usage)
        head = _head("200 OK", b"text/event-stream", None)
        pace = _PACE.search(content)
        if pace is None or len(events) < 2:
            self.transport.write(head + _chunk(b"".join(events)) + b"0\r\n\r\n")
            return
        self.transport.write(head + _chunk(events[0]))
        ms = int(pace.group(1))
        TICKERS.setdefault(ms, Ticker(ms / 1000)).add(self.transport, events[1:])


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BackendProtocol, "127.0.0.1", port, backlog=1024)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
