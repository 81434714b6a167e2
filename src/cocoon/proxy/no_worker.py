"""What a caller reads when no worker serves its request, and why.

Two ways a request gets no answer from a worker: none can take it at all (`NoWorker`, from
`no_worker_for`: no worker serves the model or its endpoint, or every one asks more than its price
ceiling; no retry or wait would help), or the workers it was sent to failed before their first chunk
(`RetryElsewhere`, one per failed try) until the router gave up (`given_up`: how many tries, and what
each worker or engine said). The same answers serve a plaintext request, an end-to-end one and a
client asking for end-to-end candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.api.error_codes import ENDPOINT_NOT_SERVED
from cocoon.proxy.selection import EndpointNotServed, NoSuchModel, PriceTooLow
from cocoon.proxy.workers import WorkerLink


@dataclass(frozen=True, slots=True)
class NoWorker:
    """Why no worker at all can take a request (no retry or wait would help): status, code, message."""

    status: int
    code: str
    message: str


def no_worker_for(
    choice: NoSuchModel | EndpointNotServed | PriceTooLow, model: str, max_coefficient: int
) -> NoWorker:
    """The answer to a request no worker can take: the same for a plaintext request and for a client
    asking for end-to-end candidates (`ProxyService.e2e_candidates`)."""
    match choice:
        case NoSuchModel():
            return NoWorker(404, "model_not_found", f"no worker serves model {model!r} now")
        case EndpointNotServed(endpoint, model, workers, served):
            return NoWorker(404, ENDPOINT_NOT_SERVED, _not_served(endpoint, model, workers, served))
        case PriceTooLow(cheapest):
            message = (
                f"every worker for {model!r} asks more than max_coefficient {max_coefficient}; the "
                f"cheapest coefficient available is {cheapest}"
            )
            return NoWorker(400, "price_too_low", message)


def _not_served(endpoint: str, model: str, workers: tuple[str, ...], served: tuple[str, ...]) -> str:
    """Why no worker takes a request for ``endpoint``: whose engines lack it, and what they serve."""
    names = ", ".join(workers[:5]) + (f" and {len(workers) - 5} more" if len(workers) > 5 else "")
    return (
        f"No worker for model {model!r} serves {endpoint}: the engines of its {len(workers)} worker(s) "
        f"({names}) serve {', '.join(served) or 'nothing they declared'}. Use one of those endpoints, or a "
        f"model whose workers list {endpoint} in /v1/models (its 'endpoints')."
    )


class RetryElsewhere(Exception):
    """The worker failed before its first chunk: try another one (``engine``: its engine failed)."""

    def __init__(self, message: str, *, engine: bool = False) -> None:
        super().__init__(message)
        self.engine = engine


def from_worker(link: WorkerLink, message: str) -> str:
    """The worker's message, naming the worker unless it already does."""
    return message if link.worker_id in message else f"worker {link.worker_id}: {message}"


def given_up(failures: list[RetryElsewhere]) -> str:
    """What the caller reads when every try failed: how many, and what each worker (or engine) said."""
    if len(failures) == 1:
        return f"the request failed on its worker: {failures[0]}"
    retries = len(failures) - 1
    times = "once" if retries == 1 else f"{retries} times"
    tries = "; then ".join(str(failure) for failure in failures)
    return f"the request failed on {len(failures)} workers (retried {times} elsewhere): {tries}"
