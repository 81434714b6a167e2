"""Serving one request from a proxy: validate, call the engine, relay every chunk at once, meter.

The worker validates again what the client validated (it protects its engine), caps each choice's
generation so that all of them fit the completion budget the proxy reserved (`RunQuery.max_tokens`),
always streams with ``include_usage`` so usage is exact, relays each engine read (whole SSE events)
the moment it arrives, and ends with the usage and its timings. When the proxy cancels, this task is
cancelled and leaving the engine stream's context aborts the engine call. An embeddings request
generates nothing: it goes to the engine whole (never streamed, no ``max_tokens`` injected) and is
metered from the answer's ``usage.prompt_tokens``.

A stream whose engine never sends its usage (it failed mid-stream with an error event of any status,
dropped the connection, timed out, or does not report usage) is metered from the stream itself: the
generated pieces relayed and a prompt estimate (`cocoon.usage.delivered_usage`). A failure after the
head ends the answer with an error carrying that usage, so the proxy charges what was delivered and
pays the worker for it; the client turns it into an error event and ``[DONE]`` for the app.

An end-to-end encrypted request (`RunQuery.e2e`) is opened first (:mod:`.sealed`): a refused
envelope is a generic plaintext error; an opened one is served the same way, its answer written as
sealed frames by a `SealedAnswer` instead of a `PlainAnswer` (:mod:`.answer`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cocoon.api.engine_errors import EngineErrorClass, classify_engine_error
from cocoon.api.error_codes import INVALID_REQUEST, UNSUPPORTED_PARAMETER, openai_type
from cocoon.api.validation import Limits, ValidatedRequest, generates_tokens, validate_request
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.e2e.envelope import ISSUE_WINDOW_S
from cocoon.e2e.frames import NONCE_SIZE
from cocoon.e2e.replay import ReplayCache
from cocoon.engine.protocol import Engine
from cocoon.errors import E2EError, EngineError, EngineStatusError, EngineTimeoutError, RequestError
from cocoon.metrics import Histogram
from cocoon.net.rpc_stream import Responder
from cocoon.payments.pricing import choice_cap
from cocoon.usage import NO_USAGE, Usage, delivered_usage
from cocoon.wire.messages import DebugTimings, HopTimings, RunQuery, Timings
from cocoon.wire.timeouts import inner_timeout_s
from cocoon.worker.answer import AnswerWriter, PlainAnswer
from cocoon.worker.attest import ReceiptSigner
from cocoon.worker.sealed import SealedAnswer, e2e_refusal, open_envelope

log = logging.getLogger(__name__)


@dataclass
class WorkerCounters:
    served: int = 0
    failed: int = 0
    rejected: int = 0
    cancelled: int = 0
    unmetered: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    by_engine_class: dict[str, int] = field(default_factory=dict)
    """Engine error answers by their class (`EngineErrorClass` values)."""
    e2e_served: int = 0
    """End-to-end encrypted answers served whole (also counted in `served`)."""
    e2e_refused: dict[str, int] = field(default_factory=dict)
    """End-to-end envelopes refused, by code (also counted in `rejected`)."""


class RequestServer:
    """Serves `RunQuery`s against one engine for one model."""

    def __init__(
        self,
        engine: Engine,
        model: str,
        limits: Limits,
        worker_id: str,
        signer: ReceiptSigner | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.signer = signer
        self.model = model
        self.limits = limits
        self.worker_id = worker_id
        self.counters = WorkerCounters()
        self.active = 0
        self.engine_up = True
        self.first_token = Histogram()
        """Seconds from the engine call to its first relayed chunk (a whole answer: to the answer)."""
        self.latency = Histogram()
        """Seconds from the engine call to the end of the answer, whatever its outcome (not cancelled)."""
        self.replay = ReplayCache(2 * ISSUE_WINDOW_S)
        """End-to-end envelopes already opened (each is served once)."""
        self._random_bytes = random_bytes

    async def serve(self, request: RunQuery, responder: Responder, max_active: int) -> None:
        """The `on_run_query` handler for one proxy connection."""
        received = self.clock.monotonic() if request.debug else None  # hop timings: only when asked
        if not self.engine_up:
            self.counters.rejected += 1
            await responder.error(503, "engine_down", f"worker {self.worker_id}: its engine is not answering")
            return
        if self.active >= max_active:
            self.counters.rejected += 1
            await responder.error(503, "no_capacity", f"worker {self.worker_id}: all {max_active} slots busy")
            return
        try:
            answer = self._answer(request, responder)
        except E2EError as error:
            await self._refuse_envelope(error, responder)
            return
        try:
            validated = self._validate(request, answer)
        except E2EError as error:
            await self._refuse_envelope(error, responder)
            return
        except RequestError as error:
            self.counters.rejected += 1
            await answer.refuse(error)
            return
        self.active += 1
        try:
            await self._run(request, validated, answer, received)
        except BaseException:
            self.counters.cancelled += 1
            raise
        finally:
            self.active -= 1

    def _answer(self, request: RunQuery, responder: Responder) -> AnswerWriter:
        """The writer of this request's answer; an end-to-end envelope is opened here (`E2EError`)."""
        if request.e2e is None:
            return PlainAnswer(responder, request, self.signer)
        keyring = self.signer.identity.keyring if self.signer else None
        opened = open_envelope(request, keyring, self.replay, self.clock.time())
        assert self.signer is not None  # a worker without a signer holds no key: refused above
        return SealedAnswer(responder, request, opened, self.signer, self._random_bytes(NONCE_SIZE))

    async def _refuse_envelope(self, error: E2EError, responder: Responder) -> None:
        """A refused end-to-end envelope: in plaintext only its generic code and reason."""
        self.counters.rejected += 1
        refused = self.counters.e2e_refused
        refused[error.code] = refused.get(error.code, 0) + 1
        await responder.error(e2e_refusal(error), error.code, f"worker {self.worker_id}: {error.message}")

    def _validate(self, request: RunQuery, answer: AnswerWriter) -> ValidatedRequest:
        validated = validate_request(request.path, answer.body, self.limits)
        answer.check(validated)
        if validated.model != self.model:
            raise RequestError(
                f"this worker serves {self.model!r}, not {validated.model!r}",
                status=404,
                code="model_not_found",
            )
        if not generates_tokens(validated.path):
            return validated  # embeddings: nothing to cap, the body goes to the engine as validated
        # Never generate more than the proxy reserved for: its budget covers every choice.
        cap = choice_cap(request.max_tokens, validated.choices)
        if cap < 1:
            raise RequestError(
                f"the proxy reserved {request.max_tokens} completion tokens, too few for the "
                f"{validated.choices} choices this request asks for",
                param="n",
            )
        validated.engine_body[validated.cap_key] = min(validated.max_tokens, cap)
        return validated

    async def _run(
        self, request: RunQuery, validated: ValidatedRequest, answer: AnswerWriter, received: float | None
    ) -> None:
        """Serve a validated request; ``received``: when it arrived, for a request sent with ``debug``."""
        started = self.clock.monotonic()
        timeout_s = inner_timeout_s(request.timeout_ms)
        try:
            if validated.stream:
                await self._relay_stream(validated, answer, started, timeout_s, received)
            else:
                await self._relay_whole(validated, answer, started, timeout_s, received)
        except EngineError as error:
            self.counters.failed += 1
            if not answer.finished:
                await self._engine_failed(error, answer)
        self.latency.observe(self.clock.monotonic() - started)  # a cancelled request is not timed

    async def _engine_failed(
        self, error: EngineError, answer: AnswerWriter, usage: Usage | None = None
    ) -> None:
        """Tell the proxy what the engine's error means (`classify_engine_error`), by an error code it
        checks (`cocoon.api.error_codes`): the request's fault is never retried, a failure may be.
        ``usage``: what the part of the answer already relayed is charged (a stream that broke)."""
        failed = f"worker {self.worker_id}: {error}"
        generic = f"worker {self.worker_id}: the engine failed ({_failure_kind(error)})"
        if not isinstance(error, EngineStatusError):  # unreachable, timed out, broke mid-answer
            log.warning("engine failed: %s", error)
            await answer.fail(failed, generic=generic, usage=usage)
            return
        verdict = classify_engine_error(error.status, error.error)
        tally = self.counters.by_engine_class
        tally[verdict.kind.value] = tally.get(verdict.kind.value, 0) + 1
        if verdict.passes_through and not answer.head_sent:
            # The engine refused the request itself (its 4xx): pass its status and body through.
            await answer.passthrough(error.status, error.error)
            return
        if verdict.kind is EngineErrorClass.ENGINE_FAILURE:
            log.warning("engine failed: %s", error)
            await answer.fail(failed, generic=generic, usage=usage)
            return
        if verdict.kind is EngineErrorClass.UNSUPPORTED:
            code = UNSUPPORTED_PARAMETER
            what = f"`{verdict.param}`" if verdict.param else "something this request asks for"
            message = (
                f"The engine of worker {self.worker_id} does not support {what}: {verdict.message} "
                "(the engine's words). Leave it out of the request, or use a model whose engine serves it."
            )
        else:  # the request's fault, whatever status the engine gave it
            code = INVALID_REQUEST
            message = f"The engine of worker {self.worker_id} refused the request: {verdict.message}"
        refusal = RequestError(
            message, status=verdict.status, error_type=openai_type(code), param=verdict.param, code=code
        )
        await answer.refuse(refusal, usage=usage)

    async def _relay_stream(
        self,
        validated: ValidatedRequest,
        answer: AnswerWriter,
        started: float,
        timeout_s: float | None,
        received: float | None,
    ) -> None:
        stream = await self.engine.stream(validated.path, validated.engine_body, timeout_s=timeout_s)
        first_us = 0
        failure: EngineError | None = None
        try:
            await answer.head(200, "text/event-stream")
            async for data in stream:
                if not first_us:
                    first_us = int((self.clock.monotonic() - started) * 1e6)
                    self.first_token.observe(first_us / 1e6)
                if not await answer.chunk(data):
                    return  # the proxy cancelled
        except EngineError as error:  # mid-stream: an error event, a dropped connection, a timeout
            failure = error
        finally:
            await stream.aclose()  # aborts the engine call unless the answer ended
        # The engine's usage when it came; else what the relayed part delivered (`delivered_usage`).
        usage = self._meter(stream.usage, len(answer.body), stream.generated)
        if failure is not None:
            self.counters.failed += 1
            await self._engine_failed(failure, answer, usage)
            return
        timings = Timings(0, first_us, int((self.clock.monotonic() - started) * 1e6))
        if not stream.done:
            self.counters.failed += 1
            message = "the engine ended the stream before [DONE]"
            await answer.fail(message, generic=message, usage=usage)
            return
        self._served(answer)
        await answer.end(usage, timings, self._hop(received, started, first_us))

    async def _relay_whole(
        self,
        validated: ValidatedRequest,
        answer: AnswerWriter,
        started: float,
        timeout_s: float | None,
        received: float | None,
    ) -> None:
        whole = await self.engine.complete(validated.path, validated.engine_payload, timeout_s=timeout_s)
        elapsed = int((self.clock.monotonic() - started) * 1e6)
        self.first_token.observe(elapsed / 1e6)  # a whole answer's first byte is all of it
        usage = self._meter(whole.usage)
        if await answer.head(whole.status, "application/json"):
            await answer.chunk(whole.body)
            self._served(answer)
            await answer.end(usage, Timings(0, elapsed, elapsed), self._hop(received, started, elapsed))

    def _hop(self, received: float | None, started: float, first_us: int) -> DebugTimings | None:
        """This hop's timings for a request sent with ``debug`` (``received`` set), else None: since it
        arrived, the engine call (``started``), the engine's first token and now, the answer done."""
        if received is None:
            return None
        called_us = int((started - received) * 1e6)
        done_us = int((self.clock.monotonic() - received) * 1e6)
        return DebugTimings(worker=HopTimings(called_us, min(called_us + first_us, done_us), done_us))

    def _served(self, answer: AnswerWriter) -> None:
        self.counters.served += 1
        if isinstance(answer, SealedAnswer):
            self.counters.e2e_served += 1

    def _meter(self, usage: Usage | None, request_bytes: int = 0, generated: int = 0) -> Usage:
        """The usage to report and count: the engine's, else (``unmetered``) what a stream delivered
        (``generated`` pieces of a ``request_bytes`` request, `delivered_usage`), else none."""
        if usage is None:
            self.counters.unmetered += 1
            usage = delivered_usage(request_bytes, generated)
            if usage is None:
                log.warning("the engine reported no usage and delivered no token: nothing is charged")
                usage = NO_USAGE
            else:
                log.warning(
                    "the engine reported no usage: charging the %d tokens the stream delivered", generated
                )
        self.counters.prompt_tokens += usage.prompt_tokens
        self.counters.completion_tokens += usage.completion_tokens
        return usage


def _failure_kind(error: EngineError) -> str:
    """What kind of failure ``error`` is, in words that carry nothing the engine said."""
    if isinstance(error, EngineStatusError):
        return f"status {error.status}"
    if isinstance(error, EngineTimeoutError):
        return "timed out"
    return "no answer or a broken one"
