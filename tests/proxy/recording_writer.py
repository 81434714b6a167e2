"""A recording fake of the proxy's `AnswerWriter` (`cocoon.proxy.routing`), for tests that drive the
real `Router` and check what it wrote to one client."""

from __future__ import annotations

from collections.abc import Callable

from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.messages import NO_TIMINGS, DebugTimings, Timings


class RecordingWriter:
    """What the router wrote to one client: the head's or error's ``status``, the error's ``code``,
    ``head_sent`` and ``finished`` as the protocol reports them, and ``written``: each write in order
    (``"head"``, a chunk's text, ``"end"``, ``"error <status>"``) with what ``observe()`` returned at
    that time (e.g. the charges committed so far; 0 when nothing is observed). Every write succeeds."""

    def __init__(self, observe: Callable[[], int] = lambda: 0) -> None:
        self.observe = observe
        self.written: list[tuple[str, int]] = []
        self.head_sent = self.finished = False
        self.status = 0
        self.code = ""

    def _note(self, what: str) -> bool:
        self.written.append((what, self.observe()))
        return True

    async def head(
        self, status: int, headers: tuple[tuple[str, str], ...] = (), *, e2e_nonce: bytes = b""
    ) -> bool:
        self.head_sent, self.status = True, status
        return self._note("head")

    async def chunk(self, data: bytes) -> bool:
        return self._note(data.decode())

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
        self.finished = True
        return self._note("end")

    async def error(
        self,
        status: int,
        code: str,
        message: str,
        usage: Usage | None = None,
        *,
        param: str | None = None,
        receipt: bytes | None = None,
    ) -> bool:
        self.finished, self.status, self.code = True, status, code
        return self._note(f"error {status}")
