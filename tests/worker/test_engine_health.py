"""A worker whose engine goes down tells its proxy at once, and tells it again when the engine is back."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from cocoon.engine.client import EngineClient
from cocoon.engine.fake import start_fake_engine
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService
from cocoon.roles import ProxyConfig, WorkerConfig
from cocoon.worker.service import WorkerService
from waiting import wait_until


async def test_engine_down_and_back_reaches_the_proxy(tmp_path: Path) -> None:
    engine = await start_fake_engine()
    port = int(engine.url.rsplit(":", 1)[1])
    ledger = Ledger(tmp_path / "state.db")
    proxy = ProxyService(
        ProxyConfig(worker_port=0, client_port=0),
        make_identity("", "fake"),
        make_policy("fake"),
        make_policy("any"),
        ledger,
    )
    await proxy.start()
    config = WorkerConfig(
        proxies=[f"127.0.0.1:{proxy.worker_listener.port}"], engine_url=engine.url, health_interval_s=0.1
    )
    async with EngineClient(engine.url) as client:
        worker = WorkerService(config, client, make_identity("", "fake"), make_policy("fake"))
        task = asyncio.create_task(worker.run())
        try:
            await wait_until(lambda: any(link.state and link.state.enabled for link in proxy.workers))
            (link,) = list(proxy.workers)

            await engine.close()
            await wait_until(lambda: link.state is not None and not link.state.enabled)
            assert proxy.workers.worker_types() == []  # a disabled worker is not offered

            engine = await start_fake_engine(port=port)
            await wait_until(lambda: link.state is not None and link.state.enabled)
            assert [t.workers for t in proxy.workers.worker_types()] == [1]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await proxy.aclose()
            await engine.close()
            ledger.close()
