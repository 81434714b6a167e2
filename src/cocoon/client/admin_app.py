"""The client daemon's separate stats/admin server (``admin_port``, on ``admin_host``).

When ``admin_port`` is set, the payment routes (``GET /payments``, ``POST /payments/...``) move here
from the OpenAI API listener, next to ``/healthz``, ``/jsonstats`` and ``/metrics``: the API can then
face other machines while the daemon's money stays reachable from this one only (and, wherever it
listens, behind the admin token).
"""

from __future__ import annotations

from aiohttp import web

from cocoon.api.validation import DEFAULT_LIMITS
from cocoon.client.http_api import ClientRoutes
from cocoon.client.payment_routes import add_payment_routes
from cocoon.client.payments import ClientPayments
from cocoon.client.serving import ClientServing
from cocoon.node.admin_token import AdminToken


def make_client_admin_app(
    serving: ClientServing, payments: ClientPayments | None, admin: AdminToken
) -> web.Application:
    """/healthz, /jsonstats and /metrics of ``serving``, and the payment routes of ``payments`` (on a
    chain), their POSTs for callers presenting ``admin`` only."""
    routes = ClientRoutes(serving, DEFAULT_LIMITS)
    app = web.Application()
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/jsonstats", routes.jsonstats)
    app.router.add_get("/metrics", routes.metrics)
    if payments is not None:
        add_payment_routes(app, payments, admin)
    return app
