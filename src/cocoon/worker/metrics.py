"""The worker's ``GET /metrics``: its counters in the Prometheus text format, built at scrape time.

Requests by result, tokens metered, errors by kind (the engine's error classes, answers metered from
the stream because the engine sent no usage, failed health probes), end-to-end answers and refusals,
latency histograms (time to first chunk and whole request, from the engine call), active requests and
slots, engine and proxy connection state, and with a chain the payment channels' token totals
(signed by the proxies, paid out on chain). The grafana dashboard in ``deploy/grafana`` reads these
names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cocoon.api.engine_errors import EngineErrorClass
from cocoon.metrics import Exposition, Histogram
from cocoon.worker.serve import WorkerCounters

if TYPE_CHECKING:
    from cocoon.worker.service import WorkerService

_RESULTS = ("served", "failed", "rejected", "cancelled")


def worker_metrics(service: WorkerService) -> str:
    """The worker's metrics exposition (zeros until the engine is found and serving starts)."""
    server = service.server
    counters = server.counters if server is not None else WorkerCounters()
    out = Exposition()
    out.counter(
        "cocoon_worker_requests_total",
        "Requests from proxies by result (served whole, failed, rejected before the engine, cancelled).",
        [({"result": name}, getattr(counters, name)) for name in _RESULTS],
    )
    out.counter(
        "cocoon_worker_tokens_total",
        "Tokens metered: the engine's usage, else what a stream delivered.",
        [({"kind": "prompt"}, counters.prompt_tokens), ({"kind": "completion"}, counters.completion_tokens)],
    )
    engine_errors = [
        ({"kind": kind.value}, counters.by_engine_class.get(kind.value, 0)) for kind in EngineErrorClass
    ]
    out.counter(
        "cocoon_worker_errors_total",
        "Errors by kind: engine error answers by class, answers without the engine's usage (metered "
        "from the stream), failed engine health probes.",
        [
            *engine_errors,
            ({"kind": "unmetered"}, counters.unmetered),
            ({"kind": "health_probe"}, service.health.probes_failed_total),
        ],
    )
    out.counter(
        "cocoon_worker_e2e_total",
        "End-to-end encrypted requests: served whole, and refused by code.",
        [
            ({"outcome": "served"}, counters.e2e_served),
            *(({"outcome": f"refused_{code}"}, n) for code, n in sorted(counters.e2e_refused.items())),
        ],
    )
    out.histogram(
        "cocoon_worker_first_token_seconds",
        "Seconds from the engine call to the first chunk relayed (a whole answer: to the answer).",
        server.first_token if server is not None else Histogram(),
    )
    out.histogram(
        "cocoon_worker_request_seconds",
        "Seconds from the engine call to the end of the answer (cancelled requests are not counted).",
        server.latency if server is not None else Histogram(),
    )
    out.gauge("cocoon_worker_active_requests", "Requests being served now.", server.active if server else 0)
    out.gauge("cocoon_worker_max_active", "Request slots this worker offers.", service.config.max_active)
    out.gauge("cocoon_worker_engine_up", "1 while the engine answers its health probes.", _up(service))
    out.gauge("cocoon_worker_proxies_connected", "Proxies connected now.", len(service.connections))
    _channels(out, service)
    return out.text()


def _up(service: WorkerService) -> int:
    return int(service.server is not None and service.server.engine_up)


def _channels(out: Exposition, service: WorkerService) -> None:
    """Payment channel totals over every proxy: zero without a chain (the series exist either way)."""
    signed = paid = committed = 0
    if service.payouts is not None:
        for channel in service.payouts.channels.values():
            signed += channel.signed_tokens
            paid += channel.paid_tokens
            committed += channel.last.committed_to_chain if channel.last else 0
    out.gauge(
        "cocoon_worker_channel_tokens",
        "Payment channel token totals over all proxies: signed by the proxies (earned), committed on "
        "chain by the proxies, paid out to this worker.",
        [({"state": "signed"}, signed), ({"state": "committed"}, committed), ({"state": "paid"}, paid)],
    )
    out.gauge(
        "cocoon_worker_chain_enabled",
        "1 when this worker is paid on a chain.",
        int(service.payouts is not None),
    )
