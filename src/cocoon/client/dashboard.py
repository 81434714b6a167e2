"""The client daemon's HTML dashboard (`GET /` and `/stats`): what an app developer wants at a glance.

Server-rendered from the same facts as /jsonstats (no JavaScript, refreshes itself every 5 s), so it
works in any browser and in a terminal browser alike.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cocoon.node.status_html import STYLE as _STYLE
from cocoon.node.status_html import card as _card
from cocoon.payments.params import format_ton


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body or '<tr><td colspan=9>none</td></tr>'}</table>"


def _keys_section(keys: dict[str, Any] | None) -> str:
    """The API keys table (only when the daemon has a key file)."""
    if keys is None:
        return ""
    rows = []
    for name, use in keys.items():
        limit = use.get("daily_limit_nano")
        today = format_ton(int(use.get("spent_today_nano", 0)))
        rows.append(
            [
                f"<code>{html.escape(name)}</code>" + (" (revoked)" if use.get("revoked") else ""),
                f"{use.get('succeeded', 0)} / {use.get('requests', 0)}",
                html.escape(today if limit is None else f"{today} of {format_ton(int(limit))}"),
                html.escape(format_ton(int(use.get("spent_nano", 0)))),
            ]
        )
    headers = ["key", "answered / requests", "spent today, UTC (TON)", "spent since start (TON)"]
    return "<h2>API keys</h2>" + _table(headers, rows)


_RECEIPTS = {
    "verified": '<span class="ok">verified</span>',
    "failed": '<span class="bad">did not verify</span>',
    "missing": '<span class="bad">missing</span>',
    "none_by_protocol": "none (COCOON has no receipts)",
}


def _recent_section(recent: list[dict[str, Any]]) -> str:
    """The last requests: id, model, protocol, whether end-to-end encrypted, receipt, status and cost."""
    rows = []
    for item in recent:
        sealed = item.get("e2e")
        cocoon = item.get("protocol") == "cocoon"
        e2e = (
            "not sent"
            if sealed is None
            else '<span class="ok">yes</span>'
            if sealed
            else '<span class="bad">no</span>' + (" (COCOON has none)" if cocoon else "")
        )
        protocol = {"cocoon": "COCOON (no receipt, no end-to-end encryption)", "native": "ours"}
        status = int(item.get("status", 0))
        rows.append(
            [
                f"<code>{html.escape(str(item.get('request_id', '')))}</code>",
                f"<code>{html.escape(str(item.get('model', '')))}</code>",
                html.escape(protocol.get(str(item.get("protocol")), "")),
                e2e,
                _RECEIPTS.get(str(item.get("receipt")), ""),
                str(status) if status < 400 else f'<span class="bad">{status}</span>',
                html.escape(format_ton(int(item.get("cost_nano", 0)))),
            ]
        )
    headers = ["request", "model", "protocol", "end-to-end encrypted", "receipt", "status", "cost (TON)"]
    return "<h2>Recent requests</h2>" + _table(headers, rows)


def render_dashboard(stats: dict[str, Any], models: list[dict[str, Any]], base_url: str) -> str:
    """The dashboard page for the given /jsonstats facts and /v1/models list."""
    client = stats.get("client", {})
    requests = client.get("requests", {})
    tokens = client.get("tokens", {})
    e2e = client.get("e2e", {})
    mode = str(stats.get("e2e", {}).get("mode", ""))
    cards = "".join(
        [
            _card("requests answered", str(requests.get("succeeded", 0))),
            _card("failed / rejected", f"{requests.get('failed', 0)} / {requests.get('rejected', 0)}"),
            _card("adjusted tokens", f"{tokens.get('adjusted', 0):,}"),
            _card("spent (TON)", format_ton(int(client.get("spent_nano", 0)))),
            _card(
                "end-to-end / plaintext" + (f" (e2e {mode})" if mode else ""),
                f"{e2e.get('e2e_requests', 0)} / {e2e.get('plaintext_requests', 0)}",
            ),
            _card("e2e downgrades", str(e2e.get("e2e_downgrades", 0))),
            _card(
                "COCOON-protocol answers (no receipt, no e2e)",
                str(client.get("receipts", {}).get("none_by_protocol", 0)),
            ),
        ]
    )
    proxy_rows = []
    for address, proxy in stats.get("proxies", {}).items():
        state = (
            '<span class="ok">connected</span>' if proxy.get("connected") else '<span class="bad">down</span>'
        )
        balance = proxy.get("balance_nano")
        rtt = proxy.get("rtt_s")
        proxy_rows.append(
            [
                html.escape(address),
                state,
                "" if rtt is None else f"{rtt * 1000:.1f} ms",
                str(proxy.get("in_flight", "")),
                "" if balance is None else html.escape(format_ton(int(balance))),
                html.escape(str(proxy.get("last_error") or "")),
            ]
        )
    model_rows = []
    for model in models:
        workers = model.get("workers", [])
        coefficients = sorted({w.get("coefficient", 0) for w in workers})
        load = sum(w.get("active", 0) for w in workers)
        capacity = sum(w.get("max_active", 0) for w in workers)
        model_rows.append(
            [
                f"<code>{html.escape(str(model.get('id')))}</code>",
                str(len(workers)),
                ", ".join(f"{c / 1000:g}x" for c in coefficients),
                f"{load} / {capacity}",
            ]
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
        f"<title>cocoon client</title><style>{_STYLE}</style></head><body>"
        "<h1>cocoon client</h1>"
        f"<div class='sub'>OpenAI base URL <code>{html.escape(base_url)}</code> &middot; "
        f"client <code>{html.escape(str(stats.get('client_id', ''))[:16])}</code></div>"
        f"<div class='cards'>{cards}</div>"
        "<h2>Models</h2>"
        + _table(["model", "workers", "price coefficients", "active / capacity"], model_rows)
        + "<h2>Proxies</h2>"
        + _table(["proxy", "state", "rtt", "in flight", "balance (TON)", "last error"], proxy_rows)
        + _recent_section(client.get("recent", []))
        + _keys_section(client.get("keys"))
        + "</body></html>"
    )


def make_dashboard(
    stats: Callable[[], Awaitable[dict[str, Any]]], models: Callable[[], Awaitable[list[dict[str, Any]]]]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler rendering the dashboard from the two async fact sources."""

    async def dashboard(request: web.Request) -> web.StreamResponse:
        base_url = f"http://{request.host}/v1"
        page = render_dashboard(await stats(), await models(), base_url)
        return web.Response(text=page, content_type="text/html")

    return dashboard
