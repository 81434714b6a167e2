"""The answer to an end-to-end encrypted request, decrypted into the parts the relay already reads.

The proxy relays the worker's frames (`cocoon.e2e.frames`) as `AnswerChunk`s after a plaintext
`AnswerHead` that carries only the status class and the worker's nonce. `E2EAnswer` opens them in
order and yields what a plaintext answer would have been: an `AnswerHead` with the real status and
content type (from the head frame) and ``x-cocoon-e2e: 1``, one `AnswerChunk` per data frame, and the
`AnswerEnd` only after a valid final frame. Whatever fails to open (a frame altered, dropped,
repeated or reordered, a missing final frame, an unencrypted answer) cancels the request and ends
the answer with a 502 ``upstream_error``: a truncated answer is never presented as complete.

Before its head, an answer that says no listed worker could take the envelope (``e2e_reroute``) or
that its key is unknown (``e2e_key_unknown``), or one its proxy failed
(`cocoon.client.proxy_choice.fails_over`: then through another proxy), is sent again, sealed to fresh
candidates, at most `MAX_RESENDS` times: the app sees one request. The facts its v2 receipt is checked against
(`cocoon.client.receipts.E2EFacts`) are those of the attempt that answered.

A head saying some of the envelope's keys are held by no worker any more
(`cocoon.wire.headers.E2E_STALE_KEYS`) calls ``stale`` with the attempt: the client's list of that
proxy's candidates is out of date (a worker restarted with a new key, or left).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from cocoon.attestation.receipt_e2e import E2EExpectation, FramesSeen, TagOf
from cocoon.client.backend import BackendAnswer, Privacy, close_parts
from cocoon.client.e2e_workers import Candidate
from cocoon.client.proxy_choice import fails_over
from cocoon.e2e.envelope import SealedRequest
from cocoon.e2e.evidence import Evidence
from cocoon.e2e.frames import FrameOpener, FrameType
from cocoon.errors import E2EError, RequestError
from cocoon.wire.headers import E2E_STALE_KEYS
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart

log = logging.getLogger(__name__)

MAX_RESENDS = 2
RESEAL_CODES = frozenset({"e2e_reroute", "e2e_key_unknown"})
"""Codes of an answer (before its head) that ask the client to seal to fresh candidates and resend."""
E2E_HEADER = "x-cocoon-e2e"
NO_FINAL = "the answer ended without its final frame"


@dataclass(frozen=True, slots=True)
class SealedAttempt:
    """One sending of an end-to-end encrypted request: the network's answer and what was sealed."""

    answer: BackendAnswer
    sealed: SealedRequest
    workers: tuple[Candidate, ...]
    """The verified workers the envelope was sealed to."""
    expectation: E2EExpectation
    """What the answer's v2 receipt must say."""
    proxy: str = ""
    """The proxy it was sent through."""


Resend = Callable[[SealedAttempt, AnswerError], Awaitable[SealedAttempt | None]]
"""Seal again to fresh candidates and send, after ``attempt`` was answered with ``error``; None when
there is no time left. Raises `RequestError` when it cannot (no verified candidate any more)."""
Stale = Callable[[SealedAttempt], None]
"""Told that ``attempt``'s proxy holds none of some of its envelope's keys (its candidates are stale)."""


def _no_stale(attempt: SealedAttempt) -> None:
    return None


class E2EAnswer:
    """A decrypting `BackendAnswer` over one or more `SealedAttempt`s (see the module doc)."""

    privacy = Privacy.E2E

    def __init__(
        self,
        first: SealedAttempt,
        resend: Resend,
        *,
        max_resends: int = MAX_RESENDS,
        stale: Stale = _no_stale,
    ) -> None:
        self.attempt = first
        self._resend = resend
        self._stale = stale
        self.max_resends = max_resends
        self.resends = 0
        self.opener: FrameOpener | None = None
        self._cancelled: str | None = None
        self._rn = b""
        self._head_frame = b""
        self._frames: list[bytes] | None = None  # the frames after the head, kept only for `evidence`

    # --- what the receipt check reads (`cocoon.client.receipts.E2EFacts`) --------------------------

    @property
    def expectation(self) -> E2EExpectation:
        return self.attempt.expectation

    @property
    def signers(self) -> dict[bytes, bytes]:
        """The attested keys of the workers the answering envelope was sealed to, each with the id of
        the end-to-end key it was sealed to."""
        return {worker.key.worker_key: worker.key.key_id for worker in self.attempt.workers}

    @property
    def receipt_tag(self) -> TagOf | None:
        return None if self.opener is None else self.opener.receipt_tag

    def frames_seen(self) -> FramesSeen:
        if self.opener is None:
            return FramesSeen(b"", 0, False)
        frames = self.opener.log
        return FramesSeen(frames.digest(), frames.count, frames.final)

    def keep_frames(self) -> None:
        """Keep every frame from now on (asked once the head is read: the head frame is always kept)."""
        self._frames = []

    def evidence(self) -> Evidence | None:
        if self._frames is None or not self._head_frame:
            return None
        sealed = self.attempt.sealed
        frames = (self._head_frame, *self._frames)
        return Evidence(sealed.envelope, sealed.secret.rs, self._rn, frames)

    # --- the BackendAnswer ---------------------------------------------------------------------

    async def cancel(self, reason: str) -> None:
        self._cancelled = reason
        await self.attempt.answer.cancel(reason)

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        while True:
            parts = aiter(self.attempt.answer)
            first = await anext(parts, None)
            if not (isinstance(first, AnswerError) and (first.code in RESEAL_CODES or fails_over(first))):
                break
            if self.resends >= self.max_resends or self._cancelled is not None:
                yield first
                return
            await close_parts(parts)  # that attempt is over: end its reading (and its deadline) now
            self.resends += 1
            log.info("end-to-end request %s: %s; sealing to fresh workers", first.request_id, first.code)
            try:
                attempt = await self._resend(self.attempt, first)
            except RequestError as exc:
                yield AnswerError(first.request_id, exc.status, exc.code or "upstream_error", exc.message)
                return
            if attempt is None:
                yield first
                return
            self.attempt = attempt
            if self._cancelled is not None:
                await attempt.answer.cancel(self._cancelled)
        try:
            if first is None:
                return  # a stream that just stops: the relay reports it
            if not isinstance(first, AnswerHead):
                if isinstance(first, AnswerError):
                    yield first  # refused before any frame (funds, capacity, a refused envelope...)
                else:
                    yield await self._fail(first.request_id, "the answer did not start with a head")
                return
            try:
                async with contextlib.aclosing(self._decrypted(first, parts)) as decrypted:
                    async for part in decrypted:
                        yield part
            except E2EError as exc:
                yield await self._fail(
                    first.request_id, f"the encrypted answer failed a check: {exc.message}"
                )
        finally:
            await close_parts(parts)  # read to its end or not, the attempt's parts end here

    async def _decrypted(
        self, head: AnswerHead, parts: AsyncIterator[AnswerPart]
    ) -> AsyncGenerator[AnswerPart, None]:
        if not head.e2e_nonce:
            raise E2EError("e2e_frame_invalid", "the answer to an encrypted request came unencrypted")
        opener = self.opener = FrameOpener(self.attempt.sealed.secret, head.e2e_nonce)
        self._rn = head.e2e_nonce
        if any(k.lower() == E2E_STALE_KEYS for k, _ in head.headers):
            self._stale(self.attempt)
        first = await anext(parts, None)
        if isinstance(first, AnswerError):
            yield first  # the worker failed before its first frame
            return
        if not isinstance(first, AnswerChunk):
            raise E2EError("e2e_frame_invalid", NO_FINAL)
        opener.open(first.data)  # the head frame: the opener refuses any other frame first
        self._head_frame = first.data
        yield AnswerHead(head.request_id, opener.status, _plain_headers(head, opener.content_type))
        failure: str | None = None  # the message of an error frame after the answer began
        async for part in parts:
            if isinstance(part, AnswerChunk):
                frame = opener.open(part.data)
                if self._frames is not None:
                    self._frames.append(part.data)
                if frame.kind is FrameType.DATA and frame.payload:
                    yield AnswerChunk(part.request_id, frame.payload)
                elif frame.kind is FrameType.ERROR:
                    if opener.status != 200:
                        yield AnswerChunk(part.request_id, frame.payload)  # the error body, passed on
                    else:
                        failure = _error_message(frame.payload)
            elif isinstance(part, AnswerEnd):
                if not opener.finished:
                    raise E2EError("e2e_frame_invalid", NO_FINAL)
                if failure is None:
                    yield part
                else:
                    yield AnswerError(part.request_id, 502, "upstream_error", failure, part.usage)
                return
            elif isinstance(part, AnswerError):
                if failure is None:
                    yield part
                else:
                    yield AnswerError(
                        part.request_id, 502, "upstream_error", failure, part.usage, receipt=part.receipt
                    )
                return
            else:
                raise E2EError("e2e_frame_invalid", "a second head arrived in the answer")
        raise E2EError("e2e_frame_invalid", NO_FINAL)

    async def _fail(self, request_id: int, message: str) -> AnswerError:
        """Cancel the request and say why its answer is refused."""
        await self.attempt.answer.cancel(message)
        log.warning("end-to-end answer %s refused: %s", request_id, message)
        return AnswerError(
            request_id, 502, "upstream_error", f"The end-to-end encrypted answer was refused: {message}."
        )


def _plain_headers(head: AnswerHead, content_type: str) -> tuple[tuple[str, str], ...]:
    """The decrypted head's headers: the plaintext ``x-cocoon-*`` ones (the worker's statement, the
    proxy's word on which key answered; not the stale-keys hint, which is for this client), the real
    content type, and ``x-cocoon-e2e: 1``."""
    kept = tuple(
        (k, v)
        for k, v in head.headers
        if k.lower().startswith("x-cocoon-") and k.lower() not in (E2E_HEADER, E2E_STALE_KEYS)
    )
    return (*kept, ("content-type", content_type), (E2E_HEADER, "1"))


def _error_message(body: bytes) -> str:
    """The message of an OpenAI error body (an error frame), or a generic one."""
    try:
        doc = json.loads(body)
        message = doc["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = None
    if isinstance(message, str) and message:
        return message
    return "the worker failed after its answer began"
