"""The answers `cocoon.client.network.ProxyPool` hands on while it decides on failover.

To send a request to another proxy only before anything of its answer reached the app
(`cocoon.client.proxy_choice.fails_over`), the pool reads an answer's first part itself; the answer it
keeps is handed on as a `PrimedAnswer`, which yields that part again, then the rest. A request whose
connection closed before it was even sent is a `LostAnswer`: one 502 ``upstream_error``, which
fails over like a connection lost mid-wait.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from cocoon.client.backend import BackendAnswer, close_parts, privacy_of, protocol_of
from cocoon.wire.messages import AnswerEnd, AnswerError, AnswerPart


class PrimedAnswer:
    """``answer`` with its first part already read (``first``; None: it ended with nothing) from
    ``parts``, its iterator; how it travelled is the wrapped answer's. ``sent_at`` and ``first_at``
    (monotonic) say when this try was sent and when its first part came, for ``enable_debug``: the
    relay is made only after both."""

    def __init__(
        self,
        answer: BackendAnswer,
        parts: AsyncIterator[AnswerPart],
        first: AnswerPart | None,
        proxy: str,
        sent_at: float,
        first_at: float,
    ) -> None:
        self.answer = answer
        self.proxy = proxy
        self.sent_at = sent_at
        self.first_at = first_at
        self.privacy = privacy_of(answer)
        self.protocol = protocol_of(answer)
        self._parts = parts
        self._first = first

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        try:
            if self._first is None:
                return
            yield self._first
            if isinstance(self._first, AnswerEnd | AnswerError):
                return
            async for part in self._parts:
                yield part
        finally:
            await close_parts(self._parts)

    async def cancel(self, reason: str) -> None:
        await self.answer.cancel(reason)


class LostAnswer:
    """The answer of a request whose proxy connection closed before it could be sent."""

    def __init__(self, request_id: int, proxy: str, why: str) -> None:
        self.error = AnswerError(
            request_id, 502, "upstream_error", f"the connection to proxy {proxy} closed: {why}"
        )

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        yield self.error

    async def cancel(self, reason: str) -> None:
        return None  # nothing was sent: nothing to stop
