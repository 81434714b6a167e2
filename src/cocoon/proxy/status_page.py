"""The proxy's HTML status page (``GET /`` and ``/status`` of its stats server).

Rendered from exactly the dict ``/jsonstats`` returns, so the two never disagree: the workers connected
(model, offer state, slots in use, learned latency and success rate), the clients and their ledger
accounts, the requests routed and refused, what workers earned, and with a chain the proxy contract,
the params version, the payment channels' token totals and where a close stands. Every value is
escaped (:mod:`cocoon.node.status_html`): model names and ids come from peers.
"""

from __future__ import annotations

from typing import Any

from cocoon.node.status_html import Markup, bad, cards, code, esc, good, page, section, table
from cocoon.payments.params import format_ton

_REFUSED = ("funds", "invalid", "model", "endpoint", "price", "capacity")


def _ton(nano: object) -> str:
    return format_ton(int(nano)) if isinstance(nano, int) else ""


def _workers(workers: list[dict[str, Any]]) -> Markup:
    rows = [
        [
            code(w.get("worker_id")),
            code(w.get("model")),
            good("serving") if w.get("enabled") else bad("disabled"),
            f"{w.get('active', 0)} / {w.get('max_active', 0)}",
            f"{w.get('coefficient', 0) / 1000:g}x" if isinstance(w.get("coefficient"), int) else "",
            f"{w.get('served', 0)} / {w.get('failed', 0)}",
            f"{float(w.get('latency_s', 0)) * 1000:.0f} ms",
            f"{float(w.get('success_rate', 0)) * 100:.1f}%",
            bad("receipt mismatches") if w.get("flagged") else "",
        ]
        for w in workers
    ]
    headers = [
        "worker",
        "model",
        "offer",
        "active / slots",
        "price",
        "served / failed",
        "latency (learned)",
        "success rate",
        "flags",
    ]
    return section("Workers", table(headers, rows))


def _clients(stats: dict[str, Any]) -> Markup:
    accounts = {a.get("client_id"): a for a in stats.get("ledger", {}).get("clients", [])}
    connected = stats.get("clients", {})
    rows = []
    for client_id in sorted(set(accounts) | set(connected), key=str):
        account = accounts.get(client_id, {})
        rows.append(
            [
                code(str(client_id)[:16]),
                str(connected.get(client_id, {}).get("connections", 0)),
                _ton(account.get("credit_nano")),
                _ton(account.get("charged_nano")),
                str(account.get("charged_tokens", "")),
                _ton(account.get("remaining_nano")),
            ]
        )
    headers = ["client", "connections", "credit (TON)", "charged (TON)", "charged tokens", "remaining (TON)"]
    return section("Clients and their accounts", table(headers, rows))


def _earnings(workers: list[dict[str, Any]]) -> Markup:
    rows = [
        [
            code(w.get("worker_id")),
            code(w.get("owner")),
            _ton(w.get("earned_nano")),
            str(w.get("earned_tokens")),
        ]
        for w in workers
    ]
    return section("Worker earnings", table(["worker", "owner", "earned (TON)", "earned tokens"], rows))


def _chain(chain: dict[str, Any] | None) -> Markup:
    if chain is None:
        return section("Chain", Markup("<p>none: this proxy runs without a chain (local credit only)</p>"))
    close = chain.get("close") or {}
    state = (
        bad(f"refused: {chain.get('refused')}")
        if chain.get("refused")
        else (good("ready") if chain.get("ready") else bad("starting"))
    )
    facts = [
        ["proxy contract", code(chain.get("proxy_contract"))],
        ["wallet", code(chain.get("wallet"))],
        ["state", state],
        ["params version", esc(chain.get("params_version"))],
        ["seqno stored / committed on chain", f"{chain.get('last_seqno')} / {chain.get('committed_seqno')}"],
        [
            "close",
            esc(close.get("phase", "")) if close.get("requested") or close.get("closed") else "not requested",
        ],
    ]
    if close.get("requested") or close.get("closed"):
        facts.append(
            [
                "close: seconds left / pending",
                f"{close.get('seconds_left')} / {len(close.get('pending', []))}",
            ]
        )
    counters = chain.get("counters", {})
    facts += [[name.replace("_", " "), str(n)] for name, n in counters.items()]
    channels = [
        [
            esc(key.split(":", 1)[0]),
            code(key.split(":", 1)[1] if ":" in key else key),
            str(c.get("tokens_max")),
            str(c.get("committed_to_db")),
            str(c.get("committed_to_chain")),
        ]
        for key, c in chain.get("channels", {}).items()
    ]
    headers = ["kind", "owner", "signed", "stored", "committed on chain"]
    tables = (
        section("Chain", table(["", ""], facts)),
        section("Payment channels (tokens)", table(headers, channels)),
    )
    return Markup("".join(tables))


def render_proxy_status(stats: dict[str, Any]) -> str:
    """The status page for the proxy's ``/jsonstats`` facts."""
    routing = stats.get("routing", {})
    workers = stats.get("workers", [])
    refused = sum(int(routing.get(f"refused_{name}", 0)) for name in _REFUSED)
    figures = [
        ("workers connected", len(workers)),
        ("clients connected", len(stats.get("clients", {}))),
        ("requests routed", routing.get("routed", 0)),
        ("succeeded / failed", f"{routing.get('succeeded', 0)} / {routing.get('failed', 0)}"),
        ("refused", refused),
        ("charged (TON)", _ton(routing.get("charged_nano", 0))),
        (
            "tokens prompt / completion",
            f"{routing.get('prompt_tokens', 0)} / {routing.get('completion_tokens', 0)}",
        ),
    ]
    params = stats.get("params", {})
    subtitle = Markup(
        f"proxy {code(stats.get('proxy_id'))} &middot; up {esc(stats.get('uptime_s'))} s &middot; "
        f"price {esc(params.get('price_per_token'))} nanoTON/token, "
        f"worker fee {esc(params.get('worker_fee'))}"
    )
    refusals = [[name, str(routing.get(f"refused_{name}", 0))] for name in _REFUSED]
    return page(
        "cocoon proxy",
        subtitle,
        [
            cards(figures),
            _workers(workers),
            _clients(stats),
            section("Refused requests by reason", table(["reason", "requests"], refusals)),
            _earnings(stats.get("ledger", {}).get("workers", [])),
            _chain(stats.get("chain")),
        ],
    )
