"""`EndpointDriver`: moves bytes and time between a sans-IO `RpcEndpoint` and a `ByteStream`.

It reads the stream into the endpoint, writes out whatever the endpoint queued (messages queued in
the same loop iteration are coalesced into one write, large amounts go out at once), and calls
`handle_timer` at the endpoint's `next_deadline`. Every batch of events goes to one callback; the
driver knows nothing about what the events mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from cocoon.clock import Clock
from cocoon.errors import CocoonError
from cocoon.net.stream import ByteStream
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.events import Event

log = logging.getLogger(__name__)

COALESCE_LIMIT = 64 * 1024
"""Queued bytes above which we write at once instead of waiting for the end of the loop iteration."""


class EndpointDriver:
    """The asyncio I/O of one endpoint; `start` it, `handle` events through it, `shutdown` at the end."""

    def __init__(
        self,
        stream: ByteStream,
        endpoint: RpcEndpoint,
        on_events: Callable[[list[Event]], None],
        clock: Clock,
    ) -> None:
        self.stream = stream
        self.endpoint = endpoint
        self._on_events = on_events
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Send what the endpoint queued (the initiator's Hello), arm the timer, start reading."""
        self.handle([])
        self._reader = self._loop.create_task(self._read_loop())

    def now(self) -> float:
        """The clock the endpoint runs on (monotonic seconds)."""
        return self._clock.monotonic()

    def handle(self, events: list[Event]) -> None:
        """Report `events`, then write what the endpoint queued and re-arm its timer."""
        if events:
            self._on_events(events)
        self.flush()
        self._arm_timer()

    def flush(self) -> None:
        """Write queued bytes at the end of this loop iteration, or now if a lot is queued."""
        if self.endpoint.pending_bytes >= COALESCE_LIMIT:
            self._write_out()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)

    async def send(self) -> None:
        """Flush and wait for the transport's back-pressure (after queueing a message)."""
        self.flush()
        await self.stream.drain()

    async def shutdown(self, flush_timeout: float) -> None:
        """Write what is left (waiting at most `flush_timeout` s), close the stream, stop reading."""
        if self._timer is not None:
            self._timer.cancel()
        self._write_out()
        with contextlib.suppress(TimeoutError, CocoonError, OSError):
            await asyncio.wait_for(self.stream.drain(), flush_timeout)
        with contextlib.suppress(CocoonError, OSError):
            await self.stream.aclose()
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    def _write_out(self) -> None:
        self._flush_scheduled = False
        data = self.endpoint.data_to_send()
        if data:
            self.stream.write(data)

    async def _read_loop(self) -> None:
        endpoint = self.endpoint
        while endpoint.terminated is None:
            try:
                data = await self.stream.read()
            except (CocoonError, OSError) as exc:
                log.info("rpc stream read failed: %s", exc)
                data = b""
            self.handle(
                endpoint.receive_data(data, self._clock.monotonic()) if data else endpoint.receive_eof()
            )
            # A read that finds data buffered does not suspend; yield so that answer readers run
            # between reads and are not judged "too slow" merely because we never let them run.
            await asyncio.sleep(0)

    def _arm_timer(self) -> None:
        deadline = self.endpoint.next_deadline()
        armed = self._timer_deadline
        # A later deadline needs no re-arming: the armed timer fires early and re-arms then.
        if deadline is not None and armed is not None and armed <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is not None:
            self._timer = self._loop.call_later(max(0.0, deadline - self._clock.monotonic()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_deadline = None
        self.handle(self.endpoint.handle_timer(self._clock.monotonic()))
