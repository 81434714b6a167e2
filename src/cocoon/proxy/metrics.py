"""The proxy's ``GET /metrics``: its counters in the Prometheus text format, built at scrape time.

Requests by outcome, refusals and errors by kind, tokens and nanoTON charged, latency histograms (time
to first chunk, whole request, from the request's arrival), requests in flight and queued, worker
slots, the ledger's totals (charged to clients, earned by workers) and, with a chain, the payment
channels' token totals (signed, stored, committed on chain) and how many stored states the chain has
not confirmed yet. The grafana dashboard in ``deploy/grafana`` reads these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cocoon.metrics import Exposition

if TYPE_CHECKING:
    from cocoon.proxy.service import ProxyService
    from cocoon.proxy.settlement import ProxySettlement

_OUTCOMES = ("routed", "succeeded", "failed", "retried", "cancelled")
_REFUSALS = ("funds", "invalid", "model", "endpoint", "price", "capacity")
_CHANNEL_STATES = (
    ("signed", "tokens_max"),
    ("stored", "committed_to_db"),
    ("committed", "committed_to_chain"),
)
_CHANNEL_KINDS = ("client", "worker")


def proxy_metrics(service: ProxyService) -> str:
    """The proxy's metrics exposition."""
    out = Exposition()
    _requests(out, service)
    _workers(out, service)
    _money(out, service)
    chain_metrics(out, service.chain)
    return out.text()


def _requests(out: Exposition, service: ProxyService) -> None:
    router = service.router
    counters = router.counters
    out.counter(
        "cocoon_proxy_requests_total",
        "Client requests by outcome.",
        [({"outcome": name}, getattr(counters, name)) for name in _OUTCOMES],
    )
    refused = [({"reason": name}, getattr(counters, "refused_" + name)) for name in _REFUSALS]
    out.counter(
        "cocoon_proxy_refused_total",
        "Client requests refused before routing, by reason.",
        [*refused, ({"reason": "e2e_header"}, counters.e2e_refused_header)],
    )
    out.counter(
        "cocoon_proxy_errors_total",
        "Error answers to clients by kind: each refusal reason, failures upstream (after retries), "
        "end-to-end reroutes, and worker receipts that did not match.",
        [
            *refused,
            ({"reason": "e2e_header"}, counters.e2e_refused_header),
            ({"reason": "upstream"}, counters.failed),
            ({"reason": "e2e_reroute"}, counters.e2e_rerouted),
            ({"reason": "receipt_mismatch"}, counters.receipt_mismatches),
        ],
    )
    out.counter(
        "cocoon_proxy_tokens_total",
        "Tokens charged, as the workers reported them (a failed answer's: what it delivered).",
        [({"kind": "prompt"}, counters.prompt_tokens), ({"kind": "completion"}, counters.completion_tokens)],
    )
    out.histogram(
        "cocoon_proxy_first_token_seconds",
        "Seconds from a request's arrival to the first chunk relayed to its client.",
        router.first_token,
    )
    out.histogram(
        "cocoon_proxy_request_seconds",
        "Seconds from a request's arrival to its end (cancelled requests are not counted).",
        router.latency,
    )
    out.gauge("cocoon_proxy_active_requests", "Requests routed and not finished.", router.in_flight)
    out.gauge("cocoon_proxy_queued_requests", "Requests waiting for a free worker slot.", router.queued)
    out.counter(
        "cocoon_proxy_e2e_requests_total",
        "End-to-end encrypted requests routed, and rerouted.",
        [({"outcome": "routed"}, counters.e2e_routed), ({"outcome": "rerouted"}, counters.e2e_rerouted)],
    )
    out.counter(
        "cocoon_proxy_receipt_mismatches_total",
        "Worker receipts that did not match the relayed answer (never charged).",
        counters.receipt_mismatches,
    )


def _workers(out: Exposition, service: ProxyService) -> None:
    workers = service.workers
    out.counter(
        "cocoon_proxy_worker_receipt_mismatches_total",
        "Receipt mismatches per worker.",
        [({"worker": worker}, count) for worker, count in sorted(workers.receipt_mismatches.items())],
    )
    out.counter(
        "cocoon_proxy_worker_certificates_refused_total",
        "Certificates workers re-sent that did not verify.",
        workers.certificates_refused,
    )
    links = list(workers)
    offered = sum(link.state.max_active for link in links if link.state and link.state.enabled)
    out.gauge(
        "cocoon_proxy_workers",
        "Connected workers, and those with an end-to-end key.",
        [({"e2e": "any"}, len(workers.links)), ({"e2e": "key"}, sum(bool(lk.e2e_key_ids) for lk in links))],
    )
    out.gauge(
        "cocoon_proxy_worker_slots",
        "Worker request slots: in use by this proxy's requests, and offered by enabled workers.",
        [
            ({"state": "active"}, sum(link.active for link in links)),
            ({"state": "capacity"}, offered),
        ],
    )
    if (port := service.cocoon_port) is not None:
        out.counter(
            "cocoon_proxy_cocoon_port_connections_total",
            "COCOON-protocol connections by outcome.",
            [
                ({"outcome": "accepted"}, port.accepted),
                ({"outcome": "refused"}, port.refused),
                ({"outcome": "violation"}, port.violations),
            ],
        )


def _money(out: Exposition, service: ProxyService) -> None:
    out.counter(
        "cocoon_proxy_charged_nanoton_total",
        "nanoTON charged to clients since this proxy started.",
        service.router.counters.charged_nano,
    )
    ledger = service.ledger
    out.gauge(
        "cocoon_proxy_ledger_nanoton",
        "The ledger's totals: charged to clients, earned by workers (all time, in nanoTON).",
        [
            ({"account": "clients_charged"}, sum(a.charged_nano for a in ledger.clients())),
            ({"account": "workers_earned"}, sum(w.earned_nano for w in ledger.workers())),
        ],
    )
    out.counter(
        "cocoon_proxy_ledger_commits_total",
        "Ledger transactions committed, and the request rows written in them (group commit: rows over "
        "commits is how many requests share one).",
        [({"what": "commits"}, ledger.commits), ({"what": "requests"}, ledger.committed_requests)],
    )


def chain_metrics(out: Exposition, chain: ProxySettlement | None) -> None:
    """Payment channel totals and chain lag: zero without a chain (the series exist either way)."""
    totals = {(kind, state): 0 for kind in _CHANNEL_KINDS for state, _ in _CHANNEL_STATES}
    lag = 0
    if chain is not None:
        for (kind, _owner), channel in chain.channels.items():
            for state, field in _CHANNEL_STATES:
                totals[(kind, state)] = totals.get((kind, state), 0) + getattr(channel, field)
        lag = max(0, chain.pipeline.last_seqno - chain.pipeline.committed_seqno)
    out.gauge(
        "cocoon_proxy_channel_tokens",
        "Payment channel token totals by counterpart kind: signed (charged), stored in the database, "
        "committed on chain.",
        [({"kind": kind, "state": state}, value) for (kind, state), value in totals.items()],
    )
    out.gauge(
        "cocoon_proxy_chain_lag_seqnos",
        "Stored channel states the chain has not confirmed yet (0 without a chain).",
        lag,
    )
    out.gauge("cocoon_proxy_chain_enabled", "1 when this proxy settles on a chain.", int(chain is not None))
