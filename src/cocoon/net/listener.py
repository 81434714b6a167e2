"""An asyncio TCP listener that performs the RA-TLS handshake per connection and runs a handler.

Each accepted connection is attested (bounded by a handshake timeout) before the handler sees it;
refused peers are logged as ``peer refused: <reason>`` and dropped. Shutdown stops accepting, cancels
handshakes in progress, gives live handlers a grace period, then closes their streams and cancels them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import Policy
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import AttestationError, CocoonError
from cocoon.net.tls import DEFAULT_HANDSHAKE_TIMEOUT, AttestedStream, Prepare, accept_attested

log = logging.getLogger(__name__)

Handler = Callable[[AttestedStream], Awaitable[None]]
DEFAULT_GRACE = 5.0
DEFAULT_MAX_HANDSHAKES = 256


class Listener:
    """Accepts RA-TLS connections on ``host:port`` (port 0 picks a free one, see `port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        identity: NodeIdentity,
        policy: Policy,
        handler: Handler,
        *,
        clock: Clock = SYSTEM_CLOCK,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        grace: float = DEFAULT_GRACE,
        name: str = "listener",
        prepare: Prepare | None = None,
        max_handshakes: int = DEFAULT_MAX_HANDSHAKES,
    ) -> None:
        """``prepare`` is passed to `accept_attested` (e.g. fetch DCAP collateral before the verdict)."""
        self.host = host
        self._requested_port = port
        self.identity = identity
        self.policy = policy
        self.handler = handler
        self.clock = clock
        self.handshake_timeout = handshake_timeout
        self.grace = grace
        self.name = name
        self.prepare = prepare
        self.max_handshakes = max_handshakes
        """Handshakes in progress at once; more connections are closed at once (counted as refused)."""
        self.accepted = 0
        """Connections whose peer was accepted."""
        self.refused = 0
        """Connections dropped because the handshake or the policy failed."""
        self._server: asyncio.Server | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._handlers: dict[asyncio.Task[None], AttestedStream] = {}

    @property
    def port(self) -> int:
        """The bound TCP port (valid after `start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the listener is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def accepting(self) -> bool:
        """True from `start` until `aclose` begins (it stops accepting before it waits for handlers)."""
        return self._server is not None

    @property
    def live_connections(self) -> int:
        """Handlers currently running."""
        return len(self._handlers)

    async def start(self) -> None:
        """Bind and start accepting."""
        self._server = await asyncio.start_server(self._on_connect, self.host, self._requested_port)
        log.info("%s listening on %s:%d (policy %s)", self.name, self.host, self.port, self.policy.name)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peername = writer.get_extra_info("peername")
        if len(self._handshakes) >= self.max_handshakes:
            # A flood of half-open connections must not eat the CPU or starve established peers.
            self.refused += 1
            log.warning(
                "%s: %d handshakes in progress; refusing %s", self.name, len(self._handshakes), peername
            )
            writer.close()
            return
        self._handshakes.add(task)
        try:
            stream = await accept_attested(
                reader,
                writer,
                self.identity,
                self.policy,
                clock=self.clock,
                handshake_timeout=self.handshake_timeout,
                prepare=self.prepare,
            )
        except CocoonError as exc:
            self.refused += 1
            level = logging.WARNING if isinstance(exc, AttestationError) else logging.INFO
            log.log(level, "%s: peer refused: %s (from %s)", self.name, exc, peername)
            return
        finally:
            self._handshakes.discard(task)
        self.accepted += 1
        log.debug("%s: accepted %s from %s", self.name, stream.peer.describe(), peername)
        self._handlers[task] = stream
        try:
            await self.handler(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: handler failed for peer %s", self.name, peername)
        finally:
            del self._handlers[task]
            await stream.aclose()

    async def aclose(self, grace: float | None = None) -> None:
        """Stop accepting, wait up to ``grace`` seconds for live handlers, then close the rest."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for task in list(self._handshakes):
            task.cancel()
        await _wait(self._handshakes, None)
        pending = await _wait(self._handlers.keys(), self.grace if grace is None else grace)
        for task in pending:
            stream = self._handlers.get(task)
            if stream is not None:
                await stream.aclose()  # the handler's reads now return b"": a chance to finish cleanly
            task.cancel()
        await _wait(pending, None)
        await server.wait_closed()
        log.info("%s stopped", self.name)

    async def __aenter__(self) -> Listener:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _wait(tasks: Iterable[asyncio.Task[None]], within: float | None) -> set[asyncio.Task[None]]:
    """Wait for ``tasks`` (a snapshot is taken) up to ``within`` seconds; return those still pending."""
    snapshot = set(tasks)
    if not snapshot:
        return set()
    _, pending = await asyncio.wait(snapshot, timeout=within)
    return pending
