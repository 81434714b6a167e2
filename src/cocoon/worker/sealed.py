"""The worker's side of an end-to-end encrypted request (`cocoon-e2e/1`, spec/e2e.md).

`open_envelope` runs the worker's checks on `RunQuery.e2e` in the spec's order (its key listed, the
routing fields the proxy acted on equal the header, fresh, not replayed, the wrap and the body open);
`e2e_refusal` is the plaintext error for a refused envelope, generic by construction. `SealedAnswer`
is the `AnswerWriter` of an opened request: everything the engine says, including its error texts
(they may echo the prompt), goes out as sealed frames the proxy relays blind; in plaintext the proxy
sees only the status class, the frame sizes, the usage and the v2 receipt it checks before charging.
"""

from __future__ import annotations

import json

from cocoon.api.error_codes import UPSTREAM_ERROR, openai_type
from cocoon.api.validation import ValidatedRequest
from cocoon.e2e.envelope import OpenedRequest, open_request, read_header
from cocoon.e2e.frames import MAX_FRAME_PAYLOAD, FrameSealer
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache
from cocoon.errors import E2EError, RequestError
from cocoon.net.rpc_stream import Responder
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.messages import NO_TIMINGS, DebugTimings, RunQuery, Timings
from cocoon.worker.answer import JSON, OnResponder, error_code
from cocoon.worker.attest import ReceiptSigner

KEY_UNKNOWN = "e2e_key_unknown"
HEADER_MISMATCH = "e2e_header_mismatch"


def open_envelope(
    request: RunQuery, keyring: Keyring | None, replay: ReplayCache, now: float
) -> OpenedRequest:
    """Open ``request.e2e`` or raise `E2EError` with the code of the first check that fails.

    The routing the header must equal is what the proxy acted on: the `RunQuery`'s ids, model, path,
    completion budget and price ceiling; ``n`` is the header's own (checked against the body later,
    `SealedAnswer.check`).
    """
    envelope = request.e2e
    assert envelope is not None, "open_envelope is for end-to-end requests"
    if keyring is None:
        raise E2EError(KEY_UNKNOWN, "this worker holds no end-to-end key")
    header = read_header(envelope)
    routing = request.routing(header.n)
    return open_request(envelope, routing, keyring, replay, now, header=header)


def e2e_refusal(error: E2EError) -> int:
    """The HTTP status of a refused envelope: 503 for a key this worker does not hold (the proxy may
    try another listed worker, the client re-seals), 400 for the rest (never retried)."""
    return 503 if error.code == KEY_UNKNOWN else 400


class SealedAnswer(OnResponder):
    """One end-to-end answer: a plaintext head (status class, the worker's statement, ``rn``), then one
    `AnswerChunk` per sealed frame (head, data..., final), then the end with a v2 receipt over them."""

    def __init__(
        self,
        responder: Responder,
        request: RunQuery,
        opened: OpenedRequest,
        signer: ReceiptSigner,
        rn: bytes,
    ) -> None:
        super().__init__(responder)
        self._request = request
        self._opened = opened
        self._signer = signer
        self._rn = rn
        self._sealer = FrameSealer(opened.secret, rn)

    @property
    def body(self) -> bytes:
        return self._opened.body

    def check(self, validated: ValidatedRequest) -> None:
        """The body must ask for the model and the choices the header (and so the proxy) says."""
        header = self._opened.header
        if validated.model != header.model or validated.choices != header.n:
            raise E2EError(HEADER_MISMATCH, "the sealed body's model or n differs from the e2e header")

    async def head(self, status: int, content_type: str) -> bool:
        plain = (status // 100) * 100
        if not await self._responder.head(plain, self._signer.headers(), e2e_nonce=self._rn):
            return False
        return await self._responder.chunk(self._sealer.head(status, content_type))

    async def chunk(self, data: bytes) -> bool:
        if 0 < len(data) <= MAX_FRAME_PAYLOAD:  # a streamed event: one frame
            return await self._responder.chunk(self._sealer.data_frame(data))
        for frame in self._sealer.data(data):
            if not await self._responder.chunk(frame):
                return False
        return True

    async def end(self, usage: Usage, timings: Timings, debug: DebugTimings | None = None) -> bool:
        if not await self._responder.chunk(self._sealer.final()):
            return False
        return await self._responder.end(usage, timings, receipt=self._receipt(usage), debug=debug)

    async def refuse(self, error: RequestError, *, usage: Usage | None = None) -> bool:
        code = error_code(error)
        body = RequestError(
            error.message, status=error.status, error_type=openai_type(code), param=error.param, code=code
        ).to_body()
        return await self._error_answer(error.status, body, usage or NO_USAGE)

    async def passthrough(self, status: int, error: dict[str, object]) -> bool:
        return await self._error_answer(status, {"error": error})

    async def fail(self, message: str, *, generic: str, usage: Usage | None = None) -> bool:
        if not self.head_sent:  # nothing sealed yet: the proxy may retry on another listed worker
            return await self._responder.error(502, UPSTREAM_ERROR, generic)
        body = RequestError(message, status=502, error_type=UPSTREAM_ERROR, code=UPSTREAM_ERROR).to_body()
        return await self._broken(generic, body, usage or NO_USAGE)

    async def _error_answer(self, status: int, body: dict[str, object], usage: Usage = NO_USAGE) -> bool:
        """A complete answer that is an error (the request's fault): its text only in frames, nothing
        charged, a receipt over the frames. After the head (the engine refused mid-stream) it cannot
        become one: the answer breaks off, charged ``usage`` (what was delivered) under a partial receipt."""
        if self.head_sent:
            return await self._broken(f"the answer broke off (status {status})", body, usage)
        if not await self.head(status, JSON):
            return False
        for frame in self._sealer.error(json.dumps(body).encode()):
            if not await self._responder.chunk(frame):
                return False
        return await self.end(NO_USAGE, NO_TIMINGS)

    async def _broken(self, generic: str, body: dict[str, object], usage: Usage) -> bool:
        """End an answer that already sent frames: the error sealed, then a plaintext 502 with the
        usage so far and a partial receipt (no final frame was sent: its ``final`` is False)."""
        for frame in self._sealer.error(json.dumps(body).encode()):
            if not await self._responder.chunk(frame):
                return False
        return await self._responder.error(502, UPSTREAM_ERROR, generic, usage, receipt=self._receipt(usage))

    def _receipt(self, usage: Usage) -> bytes:
        return self._signer.sign_e2e(self._request, self._opened, self._sealer, usage)
