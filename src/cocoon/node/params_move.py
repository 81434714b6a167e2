"""Moving a worker or client to the root's new params (spec/economics.md "Closing").

Contract addresses depend on the params (they are part of every contract's state-init data), so a
rise of the root's ``params_version`` (new prices, delays, stakes or contract code) means new
contracts: the node closes its connections to proxies, settles what it holds on the old contracts
(a worker submits its latest signed payouts, a client asks for its refund) and deploys new contracts
when it reconnects. :class:`ParamsFollower` notices the rise in the root snapshots the node follows
(:func:`cocoon.node.root.follow_root`, every few seconds) and runs the node's move, one at a time,
with the reason for its log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cocoon.errors import CocoonError
from cocoon.registry.snapshot import RegistrySnapshot

log = logging.getLogger(__name__)

Move = Callable[[RegistrySnapshot, str], Awaitable[None]]
"""What a node does when the params move: (the new snapshot, why) -> done."""


def params_moved(current: RegistrySnapshot, new: RegistrySnapshot) -> str | None:
    """Why a node on ``current``'s params must move to ``new``'s, or None if it need not."""
    old_v, new_v = current.params_version, new.params_version
    if new_v <= old_v:
        return None
    old, now = current.params, new.params
    return (
        f"the root's params_version rose {old_v} -> {new_v} (price {old.price_per_token} -> "
        f"{now.price_per_token}, worker fee {old.worker_fee_per_token} -> {now.worker_fee_per_token} "
        "nanoTON per token): contracts under the old params are closed and new ones deployed"
    )


class ParamsFollower:
    """Follows the root's params version and moves the node when it rises."""

    def __init__(self, first: RegistrySnapshot, move: Move) -> None:
        self.current = first
        self.move = move
        self.moves = 0
        self._pending: RegistrySnapshot | None = None
        self._wake = asyncio.Event()

    def on_change(self, snapshot: RegistrySnapshot) -> None:
        """An ``on_change`` for :func:`~cocoon.node.root.follow_root`: note a rise for :meth:`run`."""
        if params_moved(self._pending or self.current, snapshot) is not None:
            self._pending = snapshot
            self._wake.set()

    async def step(self) -> bool:
        """Run the pending move, if any; True if one ran."""
        snapshot = self._pending
        why = None if snapshot is None else params_moved(self.current, snapshot)
        if snapshot is None or why is None:
            return False
        log.warning("%s", why)
        await self.move(snapshot, why)
        self.current = snapshot
        if self._pending is snapshot:
            self._pending = None
        self.moves += 1
        return True

    async def run(self, retry_s: float = 5.0) -> None:
        """Run each move as it is noted, until cancelled; a failed move is logged and retried."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.step()
            except CocoonError as exc:
                log.warning("moving to the root's new params failed: %s; retrying in %g s", exc, retry_s)
                await asyncio.sleep(retry_s)
                self._wake.set()
