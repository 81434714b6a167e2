"""Serving one OpenAI request through the network, as values: no HTTP server in here.

`ClientServing.serve` takes a `ValidatedRequest` (validation is `cocoon.api.validation`'s), resolves
a short model name, starts the request on the `InferenceBackend` and returns what its
`cocoon.client.relay.AnswerRelay` makes of the answer: a `WholeAnswer` (status, headers, body) or an
`EventStream` (headers, then SSE byte chunks, ``[DONE]`` last); see `cocoon.client.responses`.

Whoever reads the answer may go away at any time: if `serve` is cancelled, or an `EventStream` is
closed or its reader cancelled before the end, the network request is cancelled end to end.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import asdict
from typing import Any

from cocoon.api.validation import ValidatedRequest
from cocoon.client.backend import InferenceBackend, Privacy, privacy_of
from cocoon.client.model_names import resolve_model
from cocoon.client.receipts import ReceiptBook
from cocoon.client.relay import E2E_RESPONSE_HEADER, AnswerRelay
from cocoon.client.responses import EventStream, WholeAnswer, error_answer, json_answer
from cocoon.client.stats import ClientStats
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import RequestError

MODELS_TTL_S = 2.0
"""How long the list of served models is reused to resolve short model names."""


class ClientServing:
    """Serves validated requests on one backend, counting into `stats` and verifying into `receipts`."""

    def __init__(
        self,
        backend: InferenceBackend,
        stats: ClientStats | None = None,
        receipts: ReceiptBook | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.backend = backend
        self.stats = stats or ClientStats()
        self.receipts = receipts or ReceiptBook(clock=clock)
        self.clock = clock
        self._model_list: list[str] = []
        self._models_at: float | None = None

    def reject(self, error: RequestError) -> WholeAnswer:
        """A request refused before it reached the network (unreadable, too large, invalid)."""
        self.stats.rejected += 1
        return error_answer(error)

    async def serve(
        self, request: ValidatedRequest, *, started: float | None = None
    ) -> WholeAnswer | EventStream:
        """Send ``request`` into the network; its answer as a whole response or as an event stream.

        ``started`` is the `clock` reading when the HTTP request arrived (default: now), for latency.
        """
        started = self.clock.monotonic() if started is None else started
        request = await self._with_full_model(request)
        request_id = secrets.randbits(63)
        self.stats.started += 1
        try:
            answer = await self.backend.run(request, request_id)
        except RequestError as error:
            self.stats.failed += 1
            # Nothing left the client: neither encrypted nor readable by anyone.
            self.stats.record(f"{request_id:016x}", request.model, e2e=None, status=error.status)
            refused = error_answer(error)
            refused.headers[E2E_RESPONSE_HEADER] = "0"
            return refused
        privacy = privacy_of(answer)
        self.stats.sent(e2e=privacy is Privacy.E2E, downgraded=privacy is Privacy.DOWNGRADED)
        relay = AnswerRelay(
            answer,
            request,
            request_id,
            stats=self.stats,
            receipts=self.receipts,
            clock=self.clock,
            started=started,
        )
        try:
            result = await relay.begin()
        except BaseException:
            # The caller went away (serve cancelled) or we failed: stop the work end to end.
            await relay.abandon()
            raise
        if isinstance(result, WholeAnswer):
            relay.observe_latency()
        return result

    async def _with_full_model(self, request: ValidatedRequest) -> ValidatedRequest:
        """``request`` with a short model name replaced by the one full model id it names, if any."""
        if "@" in request.model:
            return request
        full = resolve_model(request.model, await self._model_ids())
        if full == request.model:
            return request
        return dataclasses.replace(request, model=full, engine_body={**request.engine_body, "model": full})

    async def _model_ids(self) -> list[str]:
        """The model ids served now, asked of the network at most every MODELS_TTL_S seconds."""
        now = self.clock.monotonic()
        if self._models_at is None or now - self._models_at > MODELS_TTL_S:
            self._model_list = [str(m["id"]) for m in await self.backend.models()]
            self._models_at = now
        return self._model_list

    def receipt(self, request_id: str) -> WholeAnswer:
        """``GET /v1/receipts/{request_id}``: a recent verified receipt, or a 404 saying why not."""
        found = self.receipts.get(request_id)
        if found is not None:
            return json_answer(found)
        return error_answer(
            RequestError(
                f"No verified receipt for request {request_id!r}: unknown, too old (only the last "
                f"{self.receipts.capacity} are kept) or its receipt did not verify.",
                status=404,
                code="receipt_not_found",
            )
        )

    def metrics(self) -> str:
        """``GET /metrics``: the request counters and the receipt counters, in Prometheus text."""
        return self.stats.prometheus() + "\n".join(self.receipts.prometheus()) + "\n"

    async def facts(self) -> dict[str, Any]:
        """Everything /jsonstats and the dashboard show."""
        client = {**self.stats.snapshot(), "receipts": asdict(self.receipts.counters)}
        return {"client": client, **(await self.backend.status())}
