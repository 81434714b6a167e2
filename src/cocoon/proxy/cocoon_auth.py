"""Long authorization of COCOON clients: register notes matched to the nonces this proxy handed out.

A client without a client contract secret the proxy can check is told ``client.proxyConnectionAuthLong
{nonce}``; it then sends ``owner_client_register(nonce)`` from its owner wallet to its client contract,
which forwards a ``register#a35cb580 nonce`` note to this proxy's contract. The settlement's chain
reader hands each such note here (:meth:`RegisterWatch.on_register`); the connection that holds the
nonce, for the same owner, is authorized. A note may arrive before the client asks
(``client.authorizeWithProxyLong``): it is remembered until then, as the reference does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

LONG_AUTH_TIMEOUT_S = 300.0
"""How long ``client.authorizeWithProxyLong`` waits for the register note (the reference client's
timeout for the query)."""


def new_nonce() -> int:
    """A random nonce in 1 .. 2**63 - 1: the same number read as TL ``long`` or the note's uint64."""
    return secrets.randbelow(2**63 - 1) + 1


@dataclass
class _Pending:
    owner: str
    seen: asyncio.Event = field(default_factory=asyncio.Event)


class RegisterWatch:
    """Nonces handed to connecting clients, each waiting for its owner's register note."""

    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self.notes_seen = 0
        """Register notes matched to a waiting connection."""
        self.notes_ignored = 0
        """Register notes for no nonce handed out here, or from another owner."""

    def expect(self, owner: str, nonce: int) -> None:
        """Remember that ``owner`` (raw address) was given ``nonce``."""
        self._pending[nonce] = _Pending(owner)

    def forget(self, nonce: int) -> None:
        """The connection holding ``nonce`` is authorized or gone."""
        self._pending.pop(nonce, None)

    def on_register(self, owner: str, nonce: int) -> None:
        """A register note of ``owner``'s client contract with ``nonce`` was seen on chain."""
        pending = self._pending.get(nonce)
        if pending is None or pending.owner != owner:
            self.notes_ignored += 1
            log.info("register note of %s with nonce %d: no connection waits for it", owner, nonce)
            return
        self.notes_seen += 1
        pending.seen.set()

    async def wait(self, nonce: int, timeout_s: float = LONG_AUTH_TIMEOUT_S) -> bool:
        """Whether the note for ``nonce`` was seen (now or within ``timeout_s``)."""
        pending = self._pending.get(nonce)
        if pending is None:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await pending.seen.wait()
        except TimeoutError:
            return False
        return True

    def __len__(self) -> int:
        return len(self._pending)
