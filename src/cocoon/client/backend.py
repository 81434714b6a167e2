"""The client's edge to the network, as protocols: `InferenceBackend` and the `BackendAnswer` it returns.

`cocoon.client.network.ProxyPool` is the real backend (connections to proxies);
`cocoon.client.fake_backend.FakeBackend` answers from scripts, without a network. The serving layer
(`cocoon.client.serving`) depends on these protocols only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from cocoon.api.validation import ValidatedRequest
from cocoon.wire.messages import AnswerPart


class BackendAnswer(Protocol):
    """The parts of one answer as the network delivers them; `cancel` tells the network to stop.

    Iteration yields an `AnswerHead` first, then `AnswerChunk`s, then one `AnswerEnd` or `AnswerError`
    (the real backend turns a lost connection or a passed deadline into an `AnswerError`; a stream
    that just stops is treated by the serving layer as an upstream failure).
    """

    def __aiter__(self) -> AsyncIterator[AnswerPart]: ...

    async def cancel(self, reason: str) -> None:
        """Stop the request end to end (no effect once the answer ended)."""
        ...


class InferenceBackend(Protocol):
    """What the serving layer needs from the network."""

    async def run(self, request: ValidatedRequest, request_id: int) -> BackendAnswer:
        """Send the request into the network; raise `RequestError` if it cannot even start."""
        ...

    async def models(self) -> list[dict[str, Any]]:
        """The models the network can serve now, in OpenAI list-item shape plus worker details."""
        ...

    async def status(self) -> dict[str, Any]:
        """Connection and balance facts for /jsonstats."""
        ...
