"""Fakes for the worker's service tests: a `Responder` stand-in that records the answer, and queries."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.messages import NO_TIMINGS, DebugTimings, RunQuery, Timings


@dataclass
class Finish:
    """How the answer ended: `end` (usage, timings, receipt) or `error` (status, code, message)."""

    kind: str
    usage: Usage | None = None
    timings: Timings | None = None
    receipt: bytes | None = None
    status: int = 0
    code: str = ""
    message: str = ""
    param: str | None = None
    debug: DebugTimings | None = None


@dataclass
class Sink:
    """Stands in for `cocoon.net.rpc_stream.Responder` on the serving side of one request.

    Records the head, every chunk (also into `arrived`, to wait on) and the end or error. With
    ``accept`` set, chunks after that many return False, as when the requester already cancelled.
    """

    accept: int | None = None
    head_status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    chunks: list[bytes] = field(default_factory=list)
    arrived: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    final: Finish | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str = ""

    @property
    def finished(self) -> bool:
        return self.final is not None

    @property
    def head_sent(self) -> bool:
        return self.head_status is not None

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    async def head(self, status: int, headers: tuple[tuple[str, str], ...] = ()) -> bool:
        assert self.head_status is None and self.final is None, "head must come first, once"
        self.head_status, self.headers = status, headers
        return not self.cancelled.is_set()

    async def chunk(self, data: bytes) -> bool:
        assert self.head_sent and self.final is None, "chunks go between head and end"
        if self.cancelled.is_set() or (self.accept is not None and len(self.chunks) >= self.accept):
            return False
        self.chunks.append(data)
        self.arrived.put_nowait(data)
        return True

    async def end(
        self,
        usage: Usage = NO_USAGE,
        timings: Timings = NO_TIMINGS,
        adjusted_tokens: int = 0,
        cost: int = 0,
        receipt: bytes | None = None,
        prompt_cost: int = 0,
        *,
        debug: DebugTimings | None = None,
    ) -> bool:
        assert self.final is None, "an answer ends once"
        self.final = Finish("end", usage, timings, receipt, debug=debug)
        return True

    async def error(
        self, status: int, code: str, message: str, usage: Usage | None = None, *, param: str | None = None
    ) -> bool:
        assert self.final is None, "an answer ends once"
        self.final = Finish("error", usage, status=status, code=code, message=message, param=param)
        return True

    def mark_cancelled(self, reason: str) -> None:
        self.cancel_reason = reason
        self.cancelled.set()

    def content(self) -> str:
        """The text of the relayed SSE chat chunks."""
        text = ""
        for line in self.body.split(b"\n"):
            if line.startswith(b"data: {"):
                for choice in json.loads(line[6:]).get("choices", []):
                    text += choice.get("delta", {}).get("content", "") or ""
        return text


def query(
    *,
    stream: bool = True,
    max_tokens: int = 16,
    cap: int | None = None,
    timeout_ms: int = 0,
    model: str = FAKE_MODEL,
    words: str = "one two three four",
    **extra: Any,
) -> RunQuery:
    """A `RunQuery` as the proxy sends it: the caller's chat body, the reserved completion budget
    (``cap``; by default what the client sends, the body's ``max_tokens`` times its ``n``) and the
    time budget."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": words}],
        "max_tokens": max_tokens,
        **extra,
    }
    if stream:
        body["stream"] = True
    return RunQuery(
        request_id=7,
        model=model,
        body=json.dumps(body).encode(),
        max_coefficient=10_000,
        max_tokens=max(max_tokens, 0) * (extra.get("n") or 1) if cap is None else cap,
        timeout_ms=timeout_ms,
        client_request_id="00000000000000aa",
    )
