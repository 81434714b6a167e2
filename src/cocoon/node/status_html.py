"""Pieces of the nodes' server-rendered status pages (the client's dashboard, the proxy's and the
worker's status pages): one style sheet, cards, tables and the page frame.

No JavaScript and no external assets: a page is one HTML document that refreshes itself. Every value
is escaped here unless the caller marks it as already-built markup with :class:`Markup`, so a peer's
string (a worker's model name, a proxy's error) can never inject HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24;background:#f6f8fa}
h1{font-size:1.4rem;margin:0 0 .2rem} .sub{color:#57606a;margin-bottom:1.5rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin-bottom:1.5rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.8rem 1.2rem;min-width:9rem}
.card .v{font-size:1.5rem;font-weight:600} .card .k{color:#57606a;font-size:.85rem}
table{border-collapse:collapse;background:#fff;margin-bottom:1.5rem;min-width:40rem}
th,td{border:1px solid #d0d7de;padding:.35rem .7rem;text-align:left;font-size:.9rem}
th{background:#eef1f4} .ok{color:#1a7f37;font-weight:600} .bad{color:#cf222e;font-weight:600}
code{background:#eef1f4;padding:.1rem .3rem;border-radius:4px}
"""


class Markup(str):
    """A string that is already HTML (built by this module's helpers from escaped parts)."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """``value`` as HTML text: escaped, unless it is :class:`Markup` already; None is empty."""
    if isinstance(value, Markup):
        return value
    return Markup("" if value is None else html.escape(str(value)))


def code(value: object) -> Markup:
    """``value`` in a code span (identifiers, addresses, model names)."""
    return Markup(f"<code>{esc(value)}</code>")


def good(value: object) -> Markup:
    """``value`` marked as a healthy state."""
    return Markup(f'<span class="ok">{esc(value)}</span>')


def bad(value: object) -> Markup:
    """``value`` marked as a failing state."""
    return Markup(f'<span class="bad">{esc(value)}</span>')


def card(label: str, value: object) -> Markup:
    """A headline figure with its label."""
    return Markup(
        f'<div class="card"><div class="v">{esc(value)}</div><div class="k">{esc(label)}</div></div>'
    )


def cards(items: Sequence[tuple[str, object]]) -> Markup:
    """A row of cards, (label, value) each."""
    return Markup("<div class='cards'>" + "".join(card(k, v) for k, v in items) + "</div>")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> Markup:
    """A table; every cell is escaped unless it is :class:`Markup`."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    empty = f"<tr><td colspan={len(headers)}>none</td></tr>"
    return Markup(f"<table><tr>{head}</tr>{body or empty}</table>")


def section(title: str, content: Markup) -> Markup:
    """A titled part of a page."""
    return Markup(f"<h2>{esc(title)}</h2>{content}")


def page(title: str, subtitle: Markup, body: Sequence[Markup], refresh_s: int = 5) -> str:
    """The whole document: title, subtitle line and the body parts, refreshing every ``refresh_s``."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='{refresh_s}'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1><div class='sub'>{subtitle}</div>" + "".join(body) + "</body></html>"
    )
