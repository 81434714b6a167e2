"""Counters of the client daemon, for /jsonstats, /metrics and the dashboard."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from cocoon.wire.messages import AnswerEnd

_LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RECENT = 50
"""Requests kept in the list of the last ones (for /jsonstats and the dashboard)."""


@dataclass(frozen=True, slots=True)
class RecentRequest:
    """One request the app made, as the list of the last ones shows it."""

    request_id: str
    model: str
    e2e: bool | None
    """Whether it was end-to-end encrypted (False: the proxy could read it; None: refused before
    anything was sent)."""
    status: int
    """The HTTP status the app got (499: the app went away first)."""
    cost_nano: int
    protocol: str | None = None
    """The client protocol that carried it: ``native`` (ours) or ``cocoon`` (COCOON's own, which has
    no receipts and no end-to-end encryption); None: refused before anything was sent."""
    receipt: str | None = None
    """What became of its receipt (`cocoon.client.receipts.ReceiptOutcome`: ``verified``, ``failed``,
    ``missing``, ``none_by_protocol`` for a COCOON answer); None: the answer did not end normally."""


class StatsPart(Protocol):
    """More counters kept apart (e.g. per API key): told of each finished answer, shown with the rest."""

    def finished(self, end: AnswerEnd) -> None: ...

    def snapshot(self) -> Any: ...

    def prometheus(self) -> list[str]: ...


@dataclass
class ClientStats:
    """Request counts, tokens and money spent since start (money in int nanoTON)."""

    started: int = 0
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    cancelled: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    adjusted_tokens: int = 0
    spent_nano: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(_LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    e2e_requests: int = 0
    """Requests sent end-to-end encrypted."""
    plaintext_requests: int = 0
    """Requests sent in plaintext (e2e off, or downgraded)."""
    e2e_downgrades: int = 0
    """Plaintext requests that would have been encrypted, had a verified worker had a key."""
    recent: deque[RecentRequest] = field(default_factory=lambda: deque(maxlen=RECENT))
    parts: dict[str, StatsPart] = field(default_factory=dict)

    def sent(self, *, e2e: bool, downgraded: bool = False) -> None:
        """A request went into the network, end-to-end encrypted or not."""
        if e2e:
            self.e2e_requests += 1
        else:
            self.plaintext_requests += 1
        if downgraded:
            self.e2e_downgrades += 1

    def record(
        self,
        request_id: str,
        model: str,
        *,
        e2e: bool | None,
        status: int,
        cost_nano: int = 0,
        protocol: str | None = None,
        receipt: str | None = None,
    ) -> None:
        """Add a request that ended to the list of the last `RECENT`."""
        self.recent.append(RecentRequest(request_id, model, e2e, status, cost_nano, protocol, receipt))

    def finished(self, end: AnswerEnd) -> None:
        self.succeeded += 1
        self.prompt_tokens += end.usage.prompt_tokens
        self.completion_tokens += end.usage.completion_tokens
        self.adjusted_tokens += end.adjusted_tokens
        self.spent_nano += end.cost
        for part in self.parts.values():
            part.finished(end)

    def observe_latency(self, seconds: float) -> None:
        self.latency_sum_s += seconds
        for i, bound in enumerate(_LATENCY_BUCKETS_S):
            if seconds <= bound:
                self.latency_buckets[i] += 1
                return
        self.latency_buckets[-1] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {
                "started": self.started,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "rejected": self.rejected,
                "cancelled": self.cancelled,
            },
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "adjusted": self.adjusted_tokens,
            },
            "spent_nano": self.spent_nano,
            "e2e": {
                "e2e_requests": self.e2e_requests,
                "plaintext_requests": self.plaintext_requests,
                "e2e_downgrades": self.e2e_downgrades,
            },
            "recent": [asdict(r) for r in reversed(self.recent)],
            **{name: part.snapshot() for name, part in self.parts.items()},
        }

    def prometheus(self) -> str:
        lines = [
            "# TYPE cocoon_client_requests_total counter",
            *(
                f'cocoon_client_requests_total{{outcome="{k}"}} {v}'
                for k, v in self.snapshot()["requests"].items()
            ),
            "# TYPE cocoon_client_tokens_total counter",
            f'cocoon_client_tokens_total{{kind="prompt"}} {self.prompt_tokens}',
            f'cocoon_client_tokens_total{{kind="completion"}} {self.completion_tokens}',
            f'cocoon_client_tokens_total{{kind="adjusted"}} {self.adjusted_tokens}',
            "# TYPE cocoon_client_spent_nanoton_total counter",
            f"cocoon_client_spent_nanoton_total {self.spent_nano}",
            "# TYPE cocoon_client_sent_total counter",
            f'cocoon_client_sent_total{{privacy="e2e"}} {self.e2e_requests}',
            f'cocoon_client_sent_total{{privacy="plaintext"}} {self.plaintext_requests}',
            "# TYPE cocoon_client_e2e_downgrades_total counter",
            f"cocoon_client_e2e_downgrades_total {self.e2e_downgrades}",
            "# TYPE cocoon_client_request_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip((*_LATENCY_BUCKETS_S, float("inf")), self.latency_buckets, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'cocoon_client_request_seconds_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"cocoon_client_request_seconds_sum {self.latency_sum_s}")
        lines.append(f"cocoon_client_request_seconds_count {cumulative}")
        for part in self.parts.values():
            lines += part.prometheus()
        return "\n".join(lines) + "\n"
