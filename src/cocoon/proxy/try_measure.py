"""What the proxy measures of one try of a request on a worker, on its own clock.

Two readings, for two readers: `TryMeasure` for routing (when the first chunk came, how many tokens,
whether it streamed: an :class:`~cocoon.proxy.estimates.Outcome` the worker's estimates learn from),
and `ProxyHop` for a request sent with ``debug`` (when it arrived, went to its worker and got the
first answer part back: the proxy's hop of the answer's timings). Both are the proxy's own readings,
never the worker's reported timings, which routing does not trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.proxy.estimates import Outcome
from cocoon.wire.messages import DebugTimings, HopTimings


@dataclass(slots=True)
class TryMeasure:
    """What the proxy measures of one try on a worker, for routing (`cocoon.proxy.estimates`): its own
    clock's readings, never the worker's reported timings. An end-to-end answer's first frame is its
    sealed head, not content, and whether it streams is sealed too (`Outcome.streamed` None)."""

    started: float
    first_chunk_at: float | None = None
    completion_tokens: int = 0
    streamed: bool | None = False
    _skip: int = 0

    def head(self, headers: tuple[tuple[str, str], ...], sealed: bool) -> None:
        if sealed:
            self.streamed, self._skip = None, 1
        else:
            self.streamed = dict(headers).get("content-type") == "text/event-stream"

    def chunk(self, now: float) -> None:
        if self._skip:
            self._skip -= 1
        elif self.first_chunk_at is None:
            self.first_chunk_at = now

    def outcome(self, ok: bool, now: float) -> Outcome:
        first = None if self.first_chunk_at is None else self.first_chunk_at - self.started
        return Outcome(
            ok,
            first_chunk_s=first,
            total_s=now - self.started if ok else None,
            completion_tokens=self.completion_tokens,
            streamed=self.streamed,
        )


@dataclass(slots=True)
class ProxyHop:
    """This proxy's clock readings of a request sent with ``debug``: its arrival, when it went to the
    worker that answered it, and that worker's first answer part."""

    arrived: float
    sent: float
    first_byte: float | None = None

    def timings(self, now: float, worker: DebugTimings | None) -> DebugTimings:
        """The proxy's hop (done ``now``) added to the worker's, in microseconds since the arrival."""

        def since(t: float) -> int:
            return max(0, int((t - self.arrived) * 1e6))

        first = self.first_byte if self.first_byte is not None else now
        proxy = HopTimings(since(self.sent), since(first), since(now))
        return DebugTimings(worker=worker.worker if worker is not None else None, proxy=proxy)
