"""A fake PCCS (test double): the shipped `CollateralPccs` serving one saved collateral, plus a switch
that makes it fail like a PCCS that is down."""

from __future__ import annotations

from aiohttp import web

from cocoon.net.pccs_server import CollateralPccs


class FakePccs(CollateralPccs):
    """``async with FakePccs(collateral_json) as pccs``: ``pccs.url``; ``pccs.requests`` were asked."""

    def __init__(self, collateral_json: str) -> None:
        super().__init__([collateral_json])
        self.fmspc = self.fmspcs[0]
        self.available = True
        """False makes every request fail with 503 (a PCCS that is down)."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.available:
            self.requests.append(request.path_qs)
            return web.Response(status=503, text="PCCS unavailable")
        return await super().handle(request)
