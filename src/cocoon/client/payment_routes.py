"""The client daemon's payment routes: ``GET /payments`` and ``POST /payments/{topup,withdraw,close}``."""

from __future__ import annotations

from aiohttp import web

from cocoon.client.payments import ClientPayments
from cocoon.payments.params import Nano


def add_payment_routes(app: web.Application, payments: ClientPayments) -> None:
    """``GET /payments`` and ``POST /payments/{topup,withdraw,close}`` (``cocoon client ...``)."""

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
    app.router.add_post("/payments/{action}", act)
