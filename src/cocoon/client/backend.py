"""The client's edge to the network, as protocols: `InferenceBackend` and the `BackendAnswer` it returns.

`cocoon.client.network.ProxyPool` is the real backend (connections to proxies);
`cocoon.client.fake_backend.FakeBackend` answers from scripts, without a network. The serving layer
(`cocoon.client.serving`) depends on these protocols only.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Any, Protocol

from cocoon.api.validation import ValidatedRequest
from cocoon.wire.messages import AnswerPart


class Privacy(enum.StrEnum):
    """How an answer travelled (an answer's optional ``privacy`` attribute; see `privacy_of`)."""

    PLAINTEXT = "plaintext"
    """End-to-end encryption is off: the proxy reads the request and the answer."""
    E2E = "e2e"
    """Sealed to verified workers: the proxy relays what it cannot read (spec/e2e.md)."""
    DOWNGRADED = "downgraded"
    """Encryption was preferred but no verified worker had a key: sent in plaintext."""


def privacy_of(answer: object) -> Privacy:
    """An answer's `Privacy`; plaintext for one that does not say (scripted test answers)."""
    value = getattr(answer, "privacy", Privacy.PLAINTEXT)
    return value if isinstance(value, Privacy) else Privacy.PLAINTEXT


class ClientProtocol(enum.StrEnum):
    """Which client protocol carried an answer (an answer's optional ``protocol``; see `protocol_of`)."""

    NATIVE = "native"
    """Ours: the worker signs a receipt of every answer; end-to-end encryption is possible."""
    COCOON = "cocoon"
    """COCOON's own client protocol: it has no receipts and no end-to-end encryption, so the proxy
    reads the request and the answer and nothing signed vouches for them."""


def protocol_of(answer: object) -> ClientProtocol:
    """An answer's `ClientProtocol`; ours for one that does not say (scripted test answers)."""
    value = getattr(answer, "protocol", ClientProtocol.NATIVE)
    return value if isinstance(value, ClientProtocol) else ClientProtocol.NATIVE


class BackendAnswer(Protocol):
    """The parts of one answer as the network delivers them; `cancel` tells the network to stop.

    Iteration yields an `AnswerHead` first, then `AnswerChunk`s, then one `AnswerEnd` or `AnswerError`
    (the real backend turns a lost connection or a passed deadline into an `AnswerError`; a stream
    that just stops is treated by the serving layer as an upstream failure). An answer may say how it
    travelled with a ``privacy`` attribute (`Privacy`, read with `privacy_of`) and over which protocol
    with a ``protocol`` attribute (`ClientProtocol`, read with `protocol_of`).
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


async def close_parts(parts: AsyncIterator[AnswerPart]) -> None:
    """End reading an answer's parts now, if they come from a generator (a no-op once it finished).

    A reader that stops at the answer's end leaves the generator suspended: dropped, it would be
    closed later by the event loop's finalizer, a task and a wake-up write each. Closed here, it
    ends at once, with its deadline, and closes what it reads from in turn."""
    aclose = getattr(parts, "aclose", None)
    if aclose is not None:
        await aclose()
