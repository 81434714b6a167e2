"""In-process proxy + worker + fake engine on port 0, for service-level tests of the proxy (and, through
`cocoon_client.cocoon_net`, of its COCOON port)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocoon.attestation.policy import Policy
from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine, start_fake_engine
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService
from cocoon.proxy.settlement import ProxySettlement
from cocoon.roles import ProxyConfig, WorkerConfig
from cocoon.worker.service import WorkerService
from waiting import wait_until as wait_for  # state owned by other tasks: polled under a deadline

__all__ = ["ServiceNet", "service_net", "wait_for"]


@dataclass
class ServiceNet:
    proxy: ProxyService
    worker: WorkerService
    engine: RunningFakeEngine


@asynccontextmanager
async def service_net(
    tmp_path: Path,
    worker_policy: Policy | None = None,
    *,
    chain: ProxySettlement | None = None,
    ledger: Ledger | None = None,
    **config: Any,
) -> AsyncIterator[ServiceNet]:
    """A running proxy (worker policy as given, default fake; off-chain credit unless ``chain``;
    ``config`` on top of its ports 0) and one worker connecting to it."""
    engine = await start_fake_engine()
    ledger = ledger or Ledger(tmp_path / "state.db")
    settings: dict[str, Any] = {"worker_port": 0, "client_port": 0, "local_client_credit_nano": 10**12}
    proxy = ProxyService(
        ProxyConfig(**(settings | config)),
        make_identity("", "fake"),
        worker_policy or make_policy("fake"),
        make_policy("any"),
        ledger,
        chain,
    )
    await proxy.start()
    config = WorkerConfig(proxies=[f"127.0.0.1:{proxy.worker_listener.port}"], engine_url=engine.url)
    try:
        async with EngineClient(engine.url) as client:
            worker = WorkerService(config, client, make_identity("", "fake"), make_policy("fake"))
            task = asyncio.create_task(worker.run())
            try:
                yield ServiceNet(proxy, worker, engine)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await proxy.aclose()
        await engine.close()
        ledger.close()
