"""A test server for the client app as the daemon serves it: aiohttp behind the fast lane.

`served(app, lane)` is aiohttp's `TestClient` on the app, either on aiohttp's own test server
(``lane=False``) or on a `FastLaneSite` (``lane=True``), so one test runs against both paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from cocoon.client.fast_lane import FastLane, FastLaneSite
from cocoon.client.http_api import lane_of

PATHS = ["aiohttp", "lane"]
"""The parameters of a fixture that serves the app both ways."""


class LaneTestServer(TestServer):
    """aiohttp's test server, listening through the app's fast lane."""

    async def start_server(self, loop: Any = None, **kwargs: Any) -> None:
        if self.runner:
            return
        self.runner = await self._make_runner(handler_cancellation=True, **kwargs)
        await self.runner.setup()
        site = FastLaneSite(self.runner, lane_of(self.app), "127.0.0.1", 0)
        await site.start()
        self.host, self.port = "127.0.0.1", site.port
        self.scheme = "http"
        self._root = URL(f"http://127.0.0.1:{self.port}")


@asynccontextmanager
async def served(app: web.Application, lane: bool) -> AsyncIterator[TestClient]:
    server = LaneTestServer(app) if lane else TestServer(app)
    async with TestClient(server) as client:
        yield client


def lane_in(client: TestClient) -> FastLane:
    """The fast lane of the app ``client`` talks to."""
    server = client.server
    assert isinstance(server, TestServer)
    return lane_of(server.app)
