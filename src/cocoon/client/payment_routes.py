"""The client daemon's payment routes: ``GET /payments`` and ``POST /payments/{topup,withdraw,close}``.

The POSTs move the daemon's TON, so they need its admin token (`cocoon.node.admin_token`) besides the
API key the daemon's access control asks for when keys are in force.
"""

from __future__ import annotations

from aiohttp import web

from cocoon.client.payments import ClientPayments
from cocoon.node.admin_http import admin_only
from cocoon.node.admin_token import AdminToken
from cocoon.payments.params import Nano


def add_payment_routes(app: web.Application, payments: ClientPayments, admin: AdminToken) -> None:
    """``GET /payments`` and ``POST /payments/{topup,withdraw,close}`` (``cocoon client ...``), the
    POSTs for callers presenting ``admin`` only."""

    async def show(request: web.Request) -> web.Response:
        for channel in list(payments.channels.values()):
            await payments.refresh(channel)
        return web.json_response(payments.stats())

    async def act(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await request.json() if request.can_read_body else {}
        for channel in list(payments.channels.values()):
            if action == "topup":
                await payments.top_up(channel, Nano(int(body.get("nano") or payments.top_up_nano)))
            elif action == "withdraw":
                await payments.withdraw(channel)
            elif action == "close":
                await payments.close(channel)
            else:
                return web.json_response({"error": f"unknown action {action!r}"}, status=404)
            await payments.refresh(channel)
        return web.json_response(payments.stats())

    app.router.add_get("/payments", show)
    app.router.add_post("/payments/{action}", admin_only(admin, act))
