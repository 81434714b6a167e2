"""How a debugged request's hop timings (``enable_debug``) are shown: JSON objects, one per node.

Each node measures its own hop with its own monotonic clock, from when it received the request: when
it passed it on, when the first answer byte came back and when the answer was done (`HopTimings`, in
microseconds). Shown to the app in milliseconds under names saying what each point is on that node;
absolute clocks of different hosts are never compared. The same objects, as JSON strings, fill the
``worker_debug`` and ``proxy_debug`` fields of COCOON's ``client.queryFinalInfo``.
"""

from __future__ import annotations

import json
from typing import Any

from cocoon.wire.messages import DebugTimings, HopTimings

_POINTS: dict[str, tuple[str, str, str]] = {
    "client": ("sent_to_proxy_ms", "first_byte_from_proxy_ms", "done_ms"),
    "proxy": ("sent_to_worker_ms", "first_byte_from_worker_ms", "done_ms"),
    "worker": ("engine_called_ms", "engine_first_token_ms", "engine_done_ms"),
}
"""Names of a hop's three points after ``received_ms`` (always 0), by node."""


def hop_json(node: str, hop: HopTimings) -> dict[str, float]:
    """One node's hop as milliseconds since it received the request (``node``: a key of _POINTS)."""
    sent, first, done = _POINTS[node]
    return {
        "received_ms": 0.0,
        sent: hop.sent_us / 1000,
        first: hop.first_byte_us / 1000,
        done: hop.done_us / 1000,
    }


def debug_json(client: HopTimings, hops: DebugTimings | None) -> dict[str, Any]:
    """The ``debug`` object of an answer: the client's hop and those the network reported (a node
    missing from ``hops`` is shown as null: it did not report, e.g. an older version)."""
    hops = hops or DebugTimings()
    return {
        "client": hop_json("client", client),
        "proxy": hop_json("proxy", hops.proxy) if hops.proxy is not None else None,
        "worker": hop_json("worker", hops.worker) if hops.worker is not None else None,
    }


def final_info_strings(hops: DebugTimings) -> tuple[str, str]:
    """``(worker_debug, proxy_debug)`` of COCOON's final info: each hop's JSON, or "" when missing."""
    worker = json.dumps(hop_json("worker", hops.worker)) if hops.worker is not None else ""
    proxy = json.dumps(hop_json("proxy", hops.proxy)) if hops.proxy is not None else ""
    return worker, proxy


def parse_hop(node: str, text: str | None) -> HopTimings | None:
    """A hop read back from a COCOON final info string written by `final_info_strings`; None for
    anything else (another implementation's debug text, or nothing), never an exception."""
    if not text:
        return None
    try:
        doc = json.loads(text)
        sent, first, done = (doc[name] for name in _POINTS[node])
        values = [round(float(v) * 1000) for v in (sent, first, done)]
    except (ValueError, TypeError, KeyError, OverflowError):
        return None
    if not all(0 <= v < 2**63 for v in values):
        return None
    return HopTimings(*values)
