"""Which query and request ids are live on one connection, in both directions.

Control queries: we allocate ids for ours; the peer's ids must not repeat while unanswered, and an
answer must name a query we sent. Inference streams: one `StreamTable` for the requests we made
(we receive their answers) and one for the requests we serve (we send their answers). A check of
what the peer sent raises `RemoteProtocolError` (the endpoint turns it into a `Close`), a check of
what we are about to send raises `LocalProtocolError` (our own code misuses the endpoint).
"""

from __future__ import annotations

from cocoon.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from cocoon.wire.messages import AnswerPart
from cocoon.wire.streams import StreamTable


class Multiplexer:
    """Id bookkeeping for control queries and inference streams (pure, no I/O)."""

    __slots__ = ("_next_query_id", "_queries_in", "_queries_out", "requested", "serving")

    def __init__(self, max_cancelled: int) -> None:
        self._next_query_id = 1
        self._queries_out: set[int] = set()
        self._queries_in: set[int] = set()
        self.requested = StreamTable(max_cancelled)
        """Requests we sent; we receive their answers."""
        self.serving = StreamTable(max_cancelled)
        """Requests the peer sent; we send their answers."""

    # --- control queries ----------------------------------------------------------------------------

    def query_sent(self) -> int:
        """Allocate the id of a query we are sending."""
        query_id = self._next_query_id
        self._next_query_id += 1
        self._queries_out.add(query_id)
        return query_id

    def answer_received(self, kind: str, query_id: int) -> None:
        """An answer or error arrived: it must name a query of ours that is still open."""
        if query_id not in self._queries_out:
            raise RemoteProtocolError(f"{kind} for unknown query id {query_id}")
        self._queries_out.discard(query_id)

    def query_received(self, query_id: int) -> None:
        """The peer sent a query: its id must not repeat one still unanswered."""
        if query_id in self._queries_in:
            raise RemoteProtocolError(f"Query reuses id {query_id}, which is still unanswered")
        self._queries_in.add(query_id)

    def answering(self, query_id: int) -> None:
        """We answer the peer's query: it must be open (local misuse otherwise)."""
        if query_id not in self._queries_in:
            raise LocalProtocolError(f"query {query_id} is unknown or already answered")
        self._queries_in.discard(query_id)

    # --- inference streams --------------------------------------------------------------------------

    def request_sent(self, request_id: int) -> None:
        """We start a request: its id must not be live."""
        _check(self.requested.open(request_id), LocalProtocolError)

    def request_received(self, request_id: int) -> None:
        """The peer starts a request: its id must not be live."""
        _check(self.serving.open(request_id), RemoteProtocolError)

    def part_received(self, part: AnswerPart) -> bool:
        """An answer part arrived; True if it is to be reported (False: a leftover after our cancel)."""
        deliver, violation = self.requested.advance(part)
        _check(violation, RemoteProtocolError)
        return deliver

    def part_sending(self, part: AnswerPart) -> bool:
        """We send an answer part; True if it is to go out (False: the peer cancelled)."""
        deliver, violation = self.serving.advance(part)
        _check(violation, LocalProtocolError, "cannot send ")
        return deliver


def _check(violation: str | None, error: type[ProtocolError], prefix: str = "") -> None:
    if violation is not None:
        raise error(prefix + violation)
