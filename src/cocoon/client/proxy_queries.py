"""What the client asks a proxy besides requests: its model list and, for the status page, its balance.

`ProxyPool.models` asks every connected proxy, ours or COCOON's, for its model list
(`ask_worker_types`); `ProxyPool.status` describes each of our proxies (`proxy_status`), asking it for
the client's balance and tokens charged. Both are control queries that may go unanswered: a proxy
that does not answer is logged (its list) or shown without those numbers (its status), never an
error, so one proxy down hides none of the others from ``/v1/models`` or /jsonstats.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from cocoon.client.cocoon_proxy import CocoonLink
from cocoon.errors import CocoonError
from cocoon.net.rpc import RpcConnection
from cocoon.wire.control import GetPaymentStatus, GetWorkerTypes, PaymentStatus, WorkerTypes

log = logging.getLogger(__name__)


async def ask_worker_types(address: str, link: RpcConnection | CocoonLink) -> WorkerTypes | None:
    """A proxy's model list; None (logged) when it did not give one."""
    try:
        if isinstance(link, CocoonLink):
            return await link.worker_types()
        answer = await link.query(GetWorkerTypes(), timeout=10)
    except CocoonError as exc:
        log.warning("proxy %s did not list its models: %s", address, exc)
        return None
    return answer if isinstance(answer, WorkerTypes) else None


async def proxy_status(conn: RpcConnection | None, last_error: str | None) -> dict[str, Any]:
    """One of our proxies in the client's status: connected (``conn``) or not, its last error; while
    connected its round trip, requests in flight and, when it answers, the client's balance there and
    the tokens it charged."""
    entry: dict[str, Any] = {
        "connected": conn is not None,
        "last_error": last_error,
    }
    if conn is not None:
        entry["rtt_s"] = conn.rtt
        entry["in_flight"] = conn.active_streams
        with contextlib.suppress(CocoonError):
            status = await conn.query(GetPaymentStatus(), timeout=5)
            if isinstance(status, PaymentStatus):
                entry["balance_nano"] = status.balance_nano
                entry["tokens_charged"] = status.committed_to_db
    return entry
