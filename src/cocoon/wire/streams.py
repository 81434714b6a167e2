"""Per-request stream discipline of the inference stream, as a transition table.

An answer to `RunQuery` is ``AnswerHead AnswerChunk* AnswerEnd`` or, at any point before the end,
``AnswerError``. A `Cancel` from the requester moves the stream to CANCELLED: parts already in flight
are tolerated (but not delivered), and one final `AnswerEnd`/`AnswerError` may still arrive so the
requester learns what was consumed. The same table checks parts we receive (as requester) and parts we
send (as server), so both directions obey one rule set.
"""

from __future__ import annotations

import enum
from collections import OrderedDict

from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart


class StreamState(enum.IntEnum):
    """Where one request's answer is (an IntEnum: hashing it is on the hot path)."""

    OPEN = 1
    """`RunQuery` seen, nothing answered yet."""
    HEADED = 2
    """`AnswerHead` seen; chunks may follow."""
    CANCELLED = 3
    """The requester cancelled; leftovers are dropped, a final end is still accepted."""
    DONE = 4
    """Finished; the request id is forgotten."""


_AnyPart = type[AnswerHead] | type[AnswerChunk] | type[AnswerEnd] | type[AnswerError]

TRANSITIONS: dict[tuple[StreamState, _AnyPart], StreamState] = {
    (StreamState.OPEN, AnswerHead): StreamState.HEADED,
    (StreamState.OPEN, AnswerError): StreamState.DONE,
    (StreamState.HEADED, AnswerChunk): StreamState.HEADED,
    (StreamState.HEADED, AnswerEnd): StreamState.DONE,
    (StreamState.HEADED, AnswerError): StreamState.DONE,
    (StreamState.CANCELLED, AnswerHead): StreamState.CANCELLED,
    (StreamState.CANCELLED, AnswerChunk): StreamState.CANCELLED,
    (StreamState.CANCELLED, AnswerEnd): StreamState.DONE,
    (StreamState.CANCELLED, AnswerError): StreamState.DONE,
}
"""(state, part type) -> next state; a pair missing here is a protocol violation."""

_WHY: dict[tuple[StreamState, _AnyPart], str] = {
    (StreamState.OPEN, AnswerChunk): "before its AnswerHead",
    (StreamState.OPEN, AnswerEnd): "before its AnswerHead",
    (StreamState.HEADED, AnswerHead): "after its AnswerHead was already sent",
}


class StreamTable:
    """The states of the streams of one direction (requests we made, or requests we serve)."""

    __slots__ = ("_cancelled", "_max_cancelled", "_states")

    def __init__(self, max_cancelled: int = 1024) -> None:
        self._states: dict[int, StreamState] = {}
        # Cancelled streams wait for leftovers; bounded so a peer that never finishes cannot grow it.
        self._cancelled: OrderedDict[int, None] = OrderedDict()
        self._max_cancelled = max_cancelled

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, request_id: int) -> bool:
        return request_id in self._states

    def state(self, request_id: int) -> StreamState:
        """The state of `request_id` (DONE if unknown or finished)."""
        return self._states.get(request_id, StreamState.DONE)

    def active_ids(self) -> list[int]:
        """Request ids not yet finished (including cancelled ones awaiting their end)."""
        return list(self._states)

    def open(self, request_id: int) -> str | None:
        """Register a new request; returns the violation if the id is already in use."""
        if request_id in self._states:
            return f"RunQuery reuses request id {request_id}, which is still active"
        self._states[request_id] = StreamState.OPEN
        return None

    def advance(self, part: AnswerPart) -> tuple[bool, str | None]:
        """Apply one answer part: returns (deliver it?, violation or None)."""
        request_id = part.request_id
        kind = type(part)
        state = self._states.get(request_id)
        if state is None:
            return False, f"{kind.__name__} for unknown request id {request_id}"
        new_state = TRANSITIONS.get((state, kind))
        if new_state is None:
            why = _WHY.get((state, kind), f"after the stream reached {state.name.lower()}")
            return False, f"{kind.__name__} for request id {request_id} {why}"
        if new_state is StreamState.DONE:
            self._forget(request_id)
        else:
            self._states[request_id] = new_state
        return state is not StreamState.CANCELLED or new_state is StreamState.DONE, None

    def cancel(self, request_id: int) -> bool:
        """Mark a running request cancelled; False if it is unknown, finished or already cancelled."""
        state = self._states.get(request_id)
        if state is None or state is StreamState.CANCELLED:
            return False
        self._states[request_id] = StreamState.CANCELLED
        self._cancelled[request_id] = None
        if len(self._cancelled) > self._max_cancelled:
            oldest, _ = self._cancelled.popitem(last=False)
            self._states.pop(oldest, None)
        return True

    def _forget(self, request_id: int) -> None:
        del self._states[request_id]
        self._cancelled.pop(request_id, None)
