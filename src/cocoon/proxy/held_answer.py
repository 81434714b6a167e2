"""The parts of a whole answer the router holds back until its charge is committed (`HeldAnswer`).

Parts of an answer not known to stream that arrived with its end already received (a whole
non-streamed answer) are not relayed on arrival: the router holds its head and chunks here, records
the charge and waits for its commit, then sends head, body and end together, which the writer
coalesces into one write. Holding costs the client nothing: it cannot finish before the end anyway.
A part whose end has not arrived yet, or of a plaintext stream, is relayed at once, so a stream's
chunks still go out as they come (`cocoon.proxy.routing.Router._relay` decides which).
"""

from __future__ import annotations

from cocoon.proxy.answer_writer import AnswerWriter


class HeldAnswer:
    """Answer parts `Router._relay` holds back to send with the answer's end (see the module doc)."""

    __slots__ = ("chunks", "head")

    def __init__(self) -> None:
        self.head: tuple[int, tuple[tuple[str, str], ...], bytes] | None = None
        self.chunks: list[bytes] = []

    async def release(self, responder: AnswerWriter) -> None:
        """Send what is held, in order (the writer coalesces what is queued into one write)."""
        head = self.head
        if head is not None:
            self.head = None
            await responder.head(head[0], head[1], e2e_nonce=head[2])
        if self.chunks:
            chunks, self.chunks = self.chunks, []
            for data in chunks:
                await responder.chunk(data)
