"""What the router writes one answer through (`AnswerWriter`), whoever asked for it.

The router relays a worker's answer the same way whichever port the request came in on: a client
connection's :class:`~cocoon.net.rpc_stream.Responder`, or the COCOON client port's answer
(:mod:`cocoon.proxy.cocoon_answers`), which turns the same head, chunks and end or error into the
reference's packets. This protocol is the one surface both implement, so the router never knows which
it writes to. A writer that reports a failed answer's charge itself (`ChargeAware`) is told what the
delivered part cost before its ``error`` is called.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cocoon.proxy.accounts import RequestCost
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.messages import NO_TIMINGS, DebugTimings, Timings


class AnswerWriter(Protocol):
    """What the router writes one answer with: a client connection's
    :class:`~cocoon.net.rpc_stream.Responder`, or the COCOON client port's answer
    (:mod:`cocoon.proxy.cocoon_answers`). Each method returns False when the requester already left."""

    @property
    def head_sent(self) -> bool: ...

    @property
    def finished(self) -> bool: ...

    async def head(
        self, status: int, headers: tuple[tuple[str, str], ...] = (), *, e2e_nonce: bytes = b""
    ) -> bool: ...

    async def chunk(self, data: bytes) -> bool: ...

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
    ) -> bool: ...

    async def error(
        self,
        status: int,
        code: str,
        message: str,
        usage: Usage | None = None,
        *,
        param: str | None = None,
        receipt: bytes | None = None,
    ) -> bool: ...


@runtime_checkable
class ChargeAware(Protocol):
    """An answer writer that reports a failed answer's charge itself (the COCOON port's final info):
    told what the delivered part cost before ``error`` is called."""

    def charged(self, cost: RequestCost) -> None: ...
