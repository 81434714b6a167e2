"""The worker's HTML status page (``GET /`` and ``/status`` of its stats server).

Rendered from exactly the dict ``/jsonstats`` returns: the engine's state and health probes, every
configured proxy (connected or not, our offer to it serving or disabled because the worker leaves it),
the requests by result, and with a chain the payouts per proxy contract (tokens signed by the proxy,
paid out on chain, what is still unclaimed). Every value is escaped (:mod:`cocoon.node.status_html`).
"""

from __future__ import annotations

from typing import Any

from cocoon.node.status_html import Markup, bad, cards, code, esc, good, page, section, table
from cocoon.payments.params import format_ton


def _proxies(proxies: dict[str, dict[str, Any]], dropped: dict[str, Any]) -> Markup:
    rows = []
    for address, proxy in proxies.items():
        leaving = proxy.get("leaving")
        rtt = proxy.get("rtt")
        rows.append(
            [
                code(address),
                good("connected") if proxy.get("connected") else bad("down"),
                bad("disabled (leaving)") if leaving else good("serving"),
                "" if not isinstance(rtt, int | float) else f"{rtt * 1000:.1f} ms",
                esc(leaving or dropped.get(address) or ""),
            ]
        )
    return section("Proxies", table(["proxy", "connection", "our offer", "rtt", "why not served"], rows))


def _payouts(payouts: dict[str, Any] | None) -> Markup:
    if payouts is None:
        return section("Payouts", Markup("<p>none: this worker runs without a chain</p>"))
    rows = [
        [
            code(contract),
            str(ch.get("signed_tokens", 0)) + (" (last)" if ch.get("signed_last") else ""),
            str(ch.get("paid_tokens", 0)),
            format_ton(int(ch.get("unclaimed_nano", 0))),
            bad(f"leaving: {ch['leaving']}") if ch.get("leaving") else good("open"),
        ]
        for contract, ch in payouts.get("channels", {}).items()
    ]
    headers = ["proxy contract", "tokens signed", "tokens paid on chain", "unclaimed (TON)", "state"]
    facts = Markup(
        f"<p>wallet {code(payouts.get('wallet'))} &middot; "
        f"params version {esc(payouts.get('params_version'))}"
        f" &middot; payouts submitted {esc(payouts.get('cashed_out'))}</p>"
    )
    return section("Payouts per proxy", Markup(facts + table(headers, rows)))


def render_worker_status(stats: dict[str, Any]) -> str:
    """The status page for the worker's ``/jsonstats`` facts."""
    requests = stats.get("requests", {})
    engine = stats.get("engine", {})
    proxies = stats.get("proxies", {})
    payouts = stats.get("payouts")
    figures = [
        ("engine", "up" if engine.get("up") else "down"),
        ("active / slots", f"{stats.get('active', 0)} / {stats.get('max_active', 0)}"),
        ("proxies connected", sum(1 for p in proxies.values() if p.get("connected"))),
        ("served", requests.get("served", 0)),
        (
            "failed / rejected / cancelled",
            f"{requests.get('failed', 0)} / {requests.get('rejected', 0)} / {requests.get('cancelled', 0)}",
        ),
        (
            "tokens prompt / completion",
            f"{requests.get('prompt_tokens', 0)} / {requests.get('completion_tokens', 0)}",
        ),
    ]
    engine_state = good("up") if engine.get("up") else bad("down")
    engine_rows = [
        ["url", code(stats.get("engine_url"))],
        ["state", engine_state],
        [
            "health probes / failed in a row / failed in all",
            f"{engine.get('probes', 0)} / {engine.get('probe_failures', 0)} / "
            f"{engine.get('probes_failed_total', 0)}",
        ],
        ["last failure", esc(engine.get("last_failure"))],
    ]
    errors = [[kind, str(n)] for kind, n in sorted(requests.get("by_engine_class", {}).items())]
    subtitle = Markup(
        f"worker {code(stats.get('worker_id'))} &middot; model {code(stats.get('model'))} &middot; "
        f"price {esc(int(stats.get('coefficient') or 0) / 1000)}x &middot; up {esc(stats.get('uptime_s'))} s"
    )
    dropped = payouts.get("dropped", {}) if payouts else {}
    return page(
        "cocoon worker",
        subtitle,
        [
            cards(figures),
            section("Engine", table(["", ""], engine_rows)),
            _proxies(proxies, {**dropped, **(payouts.get("disabled", {}) if payouts else {})}),
            section("Engine errors by class", table(["class", "answers"], errors)),
            _payouts(payouts),
        ],
    )
