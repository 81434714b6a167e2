"""Reading the root contract through a :class:`~cocoon.ton.chain.Chain`, once or continuously.

``read_registry(chain, root)`` parses the root's raw data cell (no get-methods: one account read).
``RegistryWatcher`` polls it and calls back when ``version`` changes; runners use it to pick up new
prices, allowed hashes and proxies without restarting::

    watcher = RegistryWatcher(chain, root, on_change=apply_snapshot, interval_s=5)
    first = await watcher.refresh()            # at start: fails loudly if the root is missing
    task = asyncio.create_task(watcher.run())  # then follow version changes
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ChainError
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Chain

log = logging.getLogger(__name__)

OnChange = Callable[[RegistrySnapshot], Awaitable[None] | None]


async def read_registry(chain: Chain, root: Address) -> RegistrySnapshot:
    """The root's current state; ChainError if no root contract lives at ``root``."""
    state = await chain.get_account(root)
    if state.status is not AccountStatus.ACTIVE or state.data is None:
        raise ChainError(
            f"no root contract at {root.raw} (account is {state.status.value}); check root_address, "
            "or deploy one with `cocoon root deploy`"
        )
    return RegistrySnapshot.from_data(root, state.data)


async def wait_for_version(
    chain: Chain,
    root: Address,
    above: int,
    *,
    timeout_s: float = 60.0,
    poll_s: float = 0.5,
    clock: Clock = SYSTEM_CLOCK,
) -> RegistrySnapshot:
    """Poll until the root's version exceeds ``above`` (an owner operation took effect)."""
    deadline = clock.monotonic() + timeout_s
    while True:
        try:
            snapshot = await read_registry(chain, root)
            if snapshot.version > above:
                return snapshot
        except ChainError:
            if clock.monotonic() >= deadline:
                raise
        if clock.monotonic() >= deadline:
            raise ChainError(
                f"root {root.raw} stayed at version {above} for {timeout_s:.0f} s; the owner operation "
                "did not take effect (was it sent from the owner's wallet with enough TON?)"
            )
        await asyncio.sleep(poll_s)


class RegistryWatcher:
    """Keeps the latest :class:`RegistrySnapshot` of one root and reports version changes."""

    def __init__(
        self, chain: Chain, root: Address, on_change: OnChange | None = None, *, interval_s: float = 5.0
    ) -> None:
        self.chain = chain
        self.root = root
        self.on_change = on_change
        self.interval_s = interval_s
        self.current: RegistrySnapshot | None = None

    async def refresh(self) -> RegistrySnapshot:
        """Read the root now; call ``on_change`` if this is the first read or the version moved."""
        snapshot = await read_registry(self.chain, self.root)
        previous = self.current
        if previous is None or snapshot.version != previous.version:
            self.current = snapshot
            if previous is not None:
                log.info("root %s: version %d -> %d", self.root.raw, previous.version, snapshot.version)
            if self.on_change is not None:
                result = self.on_change(snapshot)
                if inspect.isawaitable(result):
                    await result
        assert self.current is not None
        return self.current

    async def run(self) -> None:
        """Refresh every ``interval_s`` until cancelled; a failed read is logged and retried."""
        while True:
            try:
                await self.refresh()
            except ChainError as exc:
                log.warning("cannot read root %s (will retry): %s", self.root.raw, exc)
            await asyncio.sleep(self.interval_s)
