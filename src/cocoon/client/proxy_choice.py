"""Which proxy a request goes to, and when it goes to another one (pure: no I/O, times passed in).

Routing by model. Each proxy's model list (its ``WorkerTypes``, refreshed when the client lists the
models, at most every `LIST_TTL_S` on the request path) says which proxies serve which model; a
request goes only to a proxy that lists its model. When none does (a model nobody serves, or lists
not answered), any connected proxy is tried once, so the app gets that proxy's own 404 and its words.

Balancing. Among the proxies serving the model, the one with the lowest load wins: its requests in
flight, plus `ERROR_PENALTY` per failure of its own (see below) in the last `ERROR_WINDOW_S`
seconds, so a failing proxy gets less traffic without being shut out; ties go to the proxy sent the
fewest requests so far, which spreads even a sequential load.

Failover (`fails_over`). An answer is only sent to another proxy serving the model when nothing of it
reached the app: the decision is taken on its first part, before any byte is relayed. It fails over
when that first part says the proxy could not serve it:

- the connection to the proxy was lost, or the answer ended before it began (nothing was delivered);
- a 5xx from the proxy: ``proxy_unavailable`` (closing, its chain not ready), ``no_capacity``
  (overloaded), ``upstream_error`` (every worker behind it failed), any other server error;
- 404 ``model_not_found`` / ``endpoint_not_served``: no worker behind *that* proxy for it now (its
  list was older than its workers); another proxy listing the model may have one.
- the same refusals before the request was even sent (end to end: the proxy listed no worker for it,
  503 ``e2e_unavailable``: none of its workers could be verified).

It never fails over:

- after the first part was a head: the answer started, and a second one would duplicate it; a
  mid-stream failure reaches the app as an error event;
- on the app's own errors (400/413/422 validation, a refused end-to-end envelope): another proxy
  would refuse the same request in the same words;
- on 402 ``insufficient_funds``: the request's reservation (its whole token budget at its price)
  does not fit the channel; the fix is a smaller ``max_tokens`` or a top-up, and shopping the
  request around every channel would reserve on each in turn and hide that the channel runs dry;
- on 504 ``timeout``: the request's deadline is spent, no time is left to send it elsewhere;
- on ``e2e_reroute`` / ``e2e_key_unknown``: those are resealed by `cocoon.client.e2e_answer`.

Every request is charged by the proxy that served it, on the client's channel with that proxy: a
proxy that failed before the answer began releases its reservation and charges nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from cocoon.wire.messages import AnswerError, AnswerHead, AnswerPart

LIST_TTL_S = 2.0
"""How long a proxy's model list is used for routing before it is asked again."""
ERROR_WINDOW_S = 30.0
"""How long a proxy's failure weighs on its load."""
ERROR_PENALTY = 4
"""In-flight requests one recent failure counts as."""
MIN_RESEND_S = 1.0
"""A request is not sent again (to another proxy, or sealed again) with less than this left of its
deadline."""

_NO_WORKER_THERE = frozenset({"model_not_found", "endpoint_not_served"})
_NEVER = frozenset({"timeout", "e2e_reroute", "e2e_key_unknown"})


def fails_over(first: AnswerPart | None) -> bool:
    """Whether an answer whose first part is ``first`` (None: it ended with nothing) may be sent to
    another proxy (see the module docstring)."""
    if first is None:
        return True
    if isinstance(first, AnswerHead) or not isinstance(first, AnswerError):
        return False
    if first.code in _NEVER:
        return False
    return first.status >= 500 or (first.status == 404 and first.code in _NO_WORKER_THERE)


class ProxyChoice:
    """The models each proxy serves, its recent failures, and the pick among proxies."""

    def __init__(self) -> None:
        self.models: dict[str, frozenset[str]] = {}
        """Per proxy address, the models its last list named (absent: never answered)."""
        self.listed_at: float | None = None
        self.sent: Counter[str] = Counter()
        """Requests sent per proxy (failed-over attempts included)."""
        self.failures: Counter[str] = Counter()
        """Failures before the answer began, per proxy (each one sent the request elsewhere or ended it)."""
        self.failovers = 0
        """Requests sent to another proxy after one failed them."""
        self._failed_at: dict[str, list[float]] = {}

    def listed(self, lists: Mapping[str, Iterable[str]], now: float) -> None:
        """Take fresh model lists (a proxy that did not answer keeps its previous list)."""
        for address, models in lists.items():
            self.models[address] = frozenset(models)
        self.listed_at = now

    def stale(self, now: float) -> bool:
        return self.listed_at is None or now - self.listed_at > LIST_TTL_S

    def serving(self, model: str, addresses: Iterable[str]) -> list[str]:
        """Those of ``addresses`` whose list names ``model``."""
        return [a for a in addresses if model in self.models.get(a, frozenset())]

    def failed(self, address: str, now: float) -> None:
        """Count a failure of ``address`` before an answer began."""
        self.failures[address] += 1
        self._failed_at.setdefault(address, []).append(now)

    def recent_failures(self, address: str, now: float) -> int:
        times = [t for t in self._failed_at.get(address, []) if now - t < ERROR_WINDOW_S]
        self._failed_at[address] = times
        return len(times)

    def pick(
        self, model: str, loads: Mapping[str, int], now: float, tried: frozenset[str] = frozenset()
    ) -> str | None:
        """The proxy to send a request for ``model`` to, among ``loads`` (address: requests in flight)
        less ``tried``; None when no other proxy serves it. Counts the request as sent to it."""
        candidates = [a for a in self.serving(model, loads) if a not in tried]
        if not candidates and not tried:
            candidates = list(loads)  # nobody lists it: one proxy answers (its 404, its words)
        if not candidates:
            return None
        best = min(
            candidates,
            key=lambda a: (loads[a] + ERROR_PENALTY * self.recent_failures(a, now), self.sent[a]),
        )
        self.sent[best] += 1
        return best

    def stats(self) -> dict[str, object]:
        return {
            "failovers": self.failovers,
            "sent": dict(self.sent),
            "failures": dict(self.failures),
            "models": {a: sorted(m) for a, m in self.models.items()},
        }
