"""What the proxy has learned about one worker's speed and reliability, decayed with time (pure).

Routing compares workers by what a request is expected to cost on each, so the estimate must describe
the worker, not the request it last served: one long answer must not make a fast worker look slow.
The proxy therefore measures, itself (a worker's own timings are not trusted), two things per answer:

* time to first token (TTFT): from sending the query to the answer's first chunk of content, for a
  streamed answer; a whole (non-streamed) answer arrives in one piece at the end and gives no TTFT
  sample. Whether an answer was streamed is what its head said when the proxy can read it; for an
  end-to-end encrypted one it cannot, and an answer whose content came all at the end (its first
  chunk later than `WHOLE_AFTER` of its time) counts as whole;
* seconds per output token (TPOT): for a streamed answer, the time after the first chunk divided by
  the tokens after the first one; for a whole answer, its time beyond the current TTFT estimate
  divided by its tokens. An answer of one token or none gives no TPOT sample.

Each is a `DecayedMean`: a mean over the samples seen, each weighted ``0.5 ** (age / half_life_s)``
(an exponentially weighted moving average whose half-life is in seconds of the caller's clock, so a
worker that is busy all the time and one asked once a minute forget at the same pace). Success is the
decayed mean of 1 (served) and 0 (failed) over every outcome.

A worker's routing figures (`WorkerStats.expected_s`: TTFT plus `REFERENCE_TOKENS` times TPOT; its
success rate) come with their `evidence`, the decayed count of outcomes behind them. `optimistic`
shrinks a figure towards the best possible value (0 seconds, always succeeding) by how little evidence
is left at the time of the request: a worker never measured looks as good as can be, so it is tried
as soon as it is drawn; one left idle for a few half-lives gets a probe request again, so a worker
that recovered from a bad spell is found. Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

HALF_LIFE_S = 60.0
"""How fast what was measured fades: a sample this many seconds old weighs half a new one."""
REFERENCE_TOKENS = 200
"""The answer length workers are compared at: TTFT + this many times the time per output token."""
WHOLE_AFTER = 0.9
"""An answer of unknown kind whose first content came after this share of its time counts as whole."""
PRIOR_WEIGHT = 0.5
"""How many outcomes' worth of optimism a worker's figures start from (see `optimistic`)."""


@dataclass(frozen=True, slots=True)
class DecayedMean:
    """A mean whose samples fade with a half-life: ``total / weight``, both decayed to ``at``."""

    total: float = 0.0
    weight: float = 0.0
    at: float = 0.0
    """When ``total`` and ``weight`` were last decayed to (the caller's clock, seconds)."""

    def add(self, sample: float, now: float, half_life_s: float) -> DecayedMean:
        """This mean with ``sample`` (taken at ``now``) added, older samples decayed to ``now``."""
        fade = decay(now - self.at, half_life_s) if self.weight else 0.0
        return DecayedMean(self.total * fade + sample, self.weight * fade + 1.0, max(now, self.at))

    def value(self, default: float) -> float:
        """The mean (``default`` before any sample)."""
        return self.total / self.weight if self.weight > 0 else default

    def weight_at(self, now: float, half_life_s: float) -> float:
        """How many samples' worth of evidence is left at ``now``."""
        return self.weight * decay(now - self.at, half_life_s)


def decay(elapsed_s: float, half_life_s: float) -> float:
    """The factor a weight keeps after ``elapsed_s`` (1 for no time or a clock that went back)."""
    if elapsed_s <= 0:
        return 1.0
    return float(0.5 ** (elapsed_s / half_life_s))


@dataclass(slots=True)
class Outcome:
    """One finished try of a request on a worker, as the proxy measured it.

    Not frozen (nobody changes it): built once per try, and a frozen init costs twice as much."""

    ok: bool
    first_chunk_s: float | None = None
    """Seconds from sending the query to the first chunk of the answer (None: no chunk came)."""
    total_s: float | None = None
    """Seconds from sending the query to the end of the answer (None: it did not end well)."""
    completion_tokens: int = 0
    streamed: bool | None = False
    """Whether the answer came as a stream (its first chunk is then its first token); None: unknown
    (an end-to-end answer), judged from when its first content came."""


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """The decayed TTFT, time per output token and success of one worker (see the module docstring)."""

    ttft: DecayedMean = DecayedMean()
    tpot: DecayedMean = DecayedMean()
    success: DecayedMean = DecayedMean()

    def observe(self, outcome: Outcome, now: float, half_life_s: float = HALF_LIFE_S) -> WorkerStats:
        """These stats with one more outcome, measured at ``now``."""
        ttft, tpot = self.ttft, self.tpot
        success = self.success.add(1.0 if outcome.ok else 0.0, now, half_life_s)
        tokens = outcome.completion_tokens
        if outcome.ok and outcome.total_s is not None:
            first = outcome.first_chunk_s
            streamed = outcome.streamed
            if streamed is None:
                streamed = first is not None and first < WHOLE_AFTER * outcome.total_s
            if streamed and first is not None:
                ttft = ttft.add(first, now, half_life_s)
                if tokens > 1:
                    tpot = tpot.add(max(outcome.total_s - first, 0.0) / (tokens - 1), now, half_life_s)
            elif tokens > 0:  # a whole answer: its time beyond the usual TTFT is its generation
                generating = max(outcome.total_s - ttft.value(0.0), 0.0)
                tpot = tpot.add(generating / tokens, now, half_life_s)
        return WorkerStats(ttft, tpot, success)

    def expected_s(self, default: float) -> float:
        """Seconds a `REFERENCE_TOKENS` answer is expected to take (``default`` before any measure)."""
        if not self.ttft.weight and not self.tpot.weight:
            return default
        return self.ttft.value(0.0) + REFERENCE_TOKENS * self.tpot.value(0.0)

    def success_rate(self) -> float:
        return self.success.value(1.0)

    @property
    def evidence(self) -> float:
        """The decayed count of outcomes behind the figures, as of `measured_at`."""
        return self.success.weight

    @property
    def measured_at(self) -> float:
        return self.success.at


def optimistic(
    expected_s: float,
    success_rate: float,
    evidence: float,
    measured_at: float,
    now: float | None,
    half_life_s: float = HALF_LIFE_S,
) -> tuple[float, float]:
    """(seconds, success rate) to route by at ``now``: the measured figures shrunk towards the best
    possible ones (0 s, always succeeding) by the evidence left, ``w / (w + PRIOR_WEIGHT)``. ``now``
    None: the evidence as of ``measured_at`` (no time passed). Figures with no evidence at all were
    not learned (a worker's optimistic initial figures, or ones given as they are): they are kept."""
    if evidence <= 0:
        return expected_s, success_rate
    left = evidence if now is None else evidence * decay(now - measured_at, half_life_s)
    trust = left / (left + PRIOR_WEIGHT)
    return expected_s * trust, success_rate * trust + (1.0 - trust)
