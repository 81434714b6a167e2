"""How the worker writes one answer to the proxy: `AnswerWriter`, what the relay loops of
:mod:`.serve` write to, and `PlainAnswer`, its plaintext form (`.sealed.SealedAnswer` is the
end-to-end encrypted one).

A writer is told what happens in the answer's terms (a head with a status and a content type, the
engine's bytes, the end with usage, a refusal, the engine's own error answer, an engine failure) and
decides how it goes on the wire and what its receipt covers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

from cocoon.api.error_codes import UPSTREAM_ERROR
from cocoon.api.validation import ValidatedRequest
from cocoon.errors import RequestError
from cocoon.net.rpc_stream import Responder
from cocoon.usage import Usage
from cocoon.wire.messages import DebugTimings, RunQuery, Timings
from cocoon.worker.attest import ReceiptSigner

JSON = "application/json"


class AnswerWriter(Protocol):
    """One answer as the relay loops write it. Each write returns False when the requester cancelled."""

    @property
    def body(self) -> bytes:
        """The OpenAI request body to validate."""
        ...

    @property
    def finished(self) -> bool:
        """True once the answer ended (`end`, or any error)."""
        ...

    @property
    def head_sent(self) -> bool:
        """True once part of the answer may have reached the requester."""
        ...

    def check(self, validated: ValidatedRequest) -> None:
        """Refuse a body that contradicts what the request was routed by (`E2EError`)."""
        ...

    async def head(self, status: int, content_type: str) -> bool: ...

    async def chunk(self, data: bytes) -> bool: ...

    async def end(self, usage: Usage, timings: Timings, debug: DebugTimings | None = None) -> bool:
        """The answer is complete: its usage and timings (``debug``: this hop's, when asked), with a
        signed receipt."""
        ...

    async def refuse(self, error: RequestError, *, usage: Usage | None = None) -> bool:
        """The request's fault (validation, or the engine's classified refusal): nothing is charged
        unless the answer already began (``usage``: what its relayed part delivered)."""
        ...

    async def passthrough(self, status: int, error: dict[str, object]) -> bool:
        """The engine's own 4xx error object, passed on with its status (nothing is charged)."""
        ...

    async def fail(self, message: str, *, generic: str, usage: Usage | None = None) -> bool:
        """The engine failed (HTTP 502 ``upstream_error``). ``message`` may carry the engine's words;
        ``generic`` says only which worker and what kind of failure, for where the proxy reads it."""
        ...


def error_code(error: RequestError) -> str:
    """The code an `AnswerError` carries for ``error``."""
    return error.code or error.error_type


class OnResponder:
    """What every `AnswerWriter` reads from the `Responder` it writes to."""

    def __init__(self, responder: Responder) -> None:
        self._responder = responder

    @property
    def finished(self) -> bool:
        return self._responder.finished

    @property
    def head_sent(self) -> bool:
        return self._responder.head_sent


class PlainAnswer(OnResponder):
    """The plaintext answer: the engine's bytes as they are, a v1 receipt over them."""

    def __init__(self, responder: Responder, request: RunQuery, signer: ReceiptSigner | None) -> None:
        super().__init__(responder)
        self._request = request
        self._signer = signer
        self._delivered = hashlib.sha256()  # the receipt covers exactly the bytes relayed

    @property
    def body(self) -> bytes:
        return self._request.body

    def check(self, validated: ValidatedRequest) -> None:
        pass  # nothing but the body says what the request is

    async def head(self, status: int, content_type: str) -> bool:
        statement = self._signer.headers() if self._signer else ()
        return await self._responder.head(status, (("content-type", content_type), *statement))

    async def chunk(self, data: bytes) -> bool:
        self._delivered.update(data)
        return await self._responder.chunk(data)

    async def end(self, usage: Usage, timings: Timings, debug: DebugTimings | None = None) -> bool:
        receipt = None
        if self._signer is not None:
            receipt = self._signer.sign(self._request, self._delivered.digest(), usage)
        return await self._responder.end(usage, timings, receipt=receipt, debug=debug)

    async def refuse(self, error: RequestError, *, usage: Usage | None = None) -> bool:
        return await self._responder.error(
            error.status, error_code(error), error.message, usage, param=error.param
        )

    async def passthrough(self, status: int, error: dict[str, object]) -> bool:
        if not await self._responder.head(status, (("content-type", JSON),)):
            return False
        await self._responder.chunk(json.dumps({"error": error}).encode())
        return await self._responder.end()

    async def fail(self, message: str, *, generic: str, usage: Usage | None = None) -> bool:
        return await self._responder.error(502, UPSTREAM_ERROR, message, usage)
