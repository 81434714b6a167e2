"""Serving one request from a proxy: validate, call the engine, relay every chunk at once, meter.

The worker validates again what the client validated (it protects its engine), caps each choice's
generation so that all of them fit the completion budget the proxy reserved (`RunQuery.max_tokens`),
always streams with ``include_usage`` so usage is exact, relays each engine read (whole SSE events)
the moment it arrives, and ends with the usage and its timings. When the proxy cancels, this task is
cancelled and leaving the engine stream's context aborts the engine call. An embeddings request
generates nothing: it goes to the engine whole (never streamed, no ``max_tokens`` injected) and is
metered from the answer's ``usage.prompt_tokens``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from cocoon.api.engine_errors import EngineErrorClass, classify_engine_error
from cocoon.api.error_codes import INVALID_REQUEST, UNSUPPORTED_PARAMETER, UPSTREAM_ERROR
from cocoon.api.validation import Limits, ValidatedRequest, generates_tokens, validate_request
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.engine.protocol import Engine
from cocoon.errors import EngineError, EngineStatusError, RequestError
from cocoon.net.rpc_stream import Responder
from cocoon.payments.pricing import choice_cap
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.messages import RunQuery, Timings
from cocoon.wire.timeouts import inner_timeout_s
from cocoon.worker.attest import ReceiptSigner

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

    async def serve(self, request: RunQuery, responder: Responder, max_active: int) -> None:
        """The `on_run_query` handler for one proxy connection."""
        if not self.engine_up:
            self.counters.rejected += 1
            await responder.error(503, "engine_down", f"worker {self.worker_id}: its engine is not answering")
            return
        if self.active >= max_active:
            self.counters.rejected += 1
            await responder.error(503, "no_capacity", f"worker {self.worker_id}: all {max_active} slots busy")
            return
        try:
            validated = self._validate(request)
        except RequestError as error:
            self.counters.rejected += 1
            await responder.error(
                error.status, error.code or error.error_type, error.message, param=error.param
            )
            return
        self.active += 1
        try:
            await self._run(request, validated, responder)
        except BaseException:
            self.counters.cancelled += 1
            raise
        finally:
            self.active -= 1

    def _validate(self, request: RunQuery) -> ValidatedRequest:
        validated = validate_request(request.path, request.body, self.limits)
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

    async def _run(self, request: RunQuery, validated: ValidatedRequest, responder: Responder) -> None:
        started = self.clock.monotonic()
        timeout_s = inner_timeout_s(request.timeout_ms)
        headers = (
            ("content-type", "text/event-stream" if validated.stream else "application/json"),
            *(self.signer.headers() if self.signer else ()),
        )
        try:
            if validated.stream:
                await self._relay_stream(request, validated, responder, headers, started, timeout_s)
            else:
                await self._relay_whole(request, validated, responder, headers, started, timeout_s)
        except EngineError as error:
            self.counters.failed += 1
            if responder.finished:
                return
            await self._engine_failed(error, responder)

    async def _engine_failed(self, error: EngineError, responder: Responder) -> None:
        """Tell the proxy what the engine's error means (`classify_engine_error`), by an error code it
        checks (`cocoon.api.error_codes`): the request's fault is never retried, a failure may be."""
        if not isinstance(error, EngineStatusError):  # unreachable, timed out, broke mid-answer
            log.warning("engine failed: %s", error)
            await responder.error(502, UPSTREAM_ERROR, f"worker {self.worker_id}: {error}")
            return
        verdict = classify_engine_error(error.status, error.error)
        tally = self.counters.by_engine_class
        tally[verdict.kind.value] = tally.get(verdict.kind.value, 0) + 1
        if verdict.passes_through and not responder.head_sent:
            # The engine refused the request itself (its 4xx): pass its status and body through.
            body = json.dumps({"error": error.error}).encode()
            if await responder.head(error.status, (("content-type", "application/json"),)):
                await responder.chunk(body)
                await responder.end()
            return
        if verdict.kind is EngineErrorClass.ENGINE_FAILURE:
            log.warning("engine failed: %s", error)
            await responder.error(502, UPSTREAM_ERROR, f"worker {self.worker_id}: {error}")
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
        await responder.error(verdict.status, code, message, param=verdict.param)

    async def _relay_stream(
        self,
        request: RunQuery,
        validated: ValidatedRequest,
        responder: Responder,
        headers: tuple[tuple[str, str], ...],
        started: float,
        timeout_s: float | None,
    ) -> None:
        stream = await self.engine.stream(validated.path, validated.engine_body, timeout_s=timeout_s)
        first_us = 0
        delivered = hashlib.sha256()  # the receipt covers exactly the bytes relayed
        try:
            await responder.head(200, headers)
            async for data in stream:
                if not first_us:
                    first_us = int((self.clock.monotonic() - started) * 1e6)
                delivered.update(data)
                if not await responder.chunk(data):
                    return  # the proxy cancelled
        finally:
            await stream.aclose()  # aborts the engine call unless the answer ended
        usage = self._meter(stream.usage)
        timings = Timings(0, first_us, int((self.clock.monotonic() - started) * 1e6))
        if not stream.done:
            self.counters.failed += 1
            await responder.error(502, "upstream_error", "the engine ended the stream before [DONE]", usage)
            return
        self.counters.served += 1
        await responder.end(usage, timings, receipt=self._receipt(request, delivered.digest(), usage))

    async def _relay_whole(
        self,
        request: RunQuery,
        validated: ValidatedRequest,
        responder: Responder,
        headers: tuple[tuple[str, str], ...],
        started: float,
        timeout_s: float | None,
    ) -> None:
        answer = await self.engine.complete(validated.path, validated.engine_payload, timeout_s=timeout_s)
        elapsed = int((self.clock.monotonic() - started) * 1e6)
        usage = self._meter(answer.usage)
        if await responder.head(answer.status, headers):
            await responder.chunk(answer.body)
            self.counters.served += 1
            receipt = self._receipt(request, hashlib.sha256(answer.body).digest(), usage)
            await responder.end(usage, Timings(0, elapsed, elapsed), receipt=receipt)

    def _receipt(self, request: RunQuery, response_sha256: bytes, usage: Usage) -> bytes | None:
        return self.signer.sign(request, response_sha256, usage) if self.signer else None

    def _meter(self, usage: Usage | None) -> Usage:
        if usage is None:
            self.counters.unmetered += 1
            log.warning("the engine reported no usage: this answer cannot be charged")
            usage = NO_USAGE
        self.counters.prompt_tokens += usage.prompt_tokens
        self.counters.completion_tokens += usage.completion_tokens
        return usage
