"""Figures of one measurement, medians over repetitions, ratios, and the printed tables (pure).

A `Measurement` is one setup under one scenario in one repetition; `Summary` takes the median of each
figure over the repetitions (the median of the per-repetition p50s for latencies). `table` and
`ratio_table` render Markdown tables, ready for an issue's closing note.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

NAN = float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN when there are no values."""
    if not values:
        return NAN
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median of the finite values; NaN when there are none."""
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else NAN


def ratio(a: float, b: float) -> float:
    """``a / b``, NaN when either is missing or ``b`` is 0."""
    if math.isnan(a) or math.isnan(b) or b == 0:
        return NAN
    return a / b


@dataclass(frozen=True, slots=True)
class Measurement:
    """One setup under one scenario, one repetition (seconds, CPU seconds, MiB)."""

    ok: int
    errors: int
    elapsed: float
    tokens: int
    """Token events per answer (content events of a stream)."""
    p50_latency: float = NAN
    p50_ttft: float = NAN
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds used in the window by each process of the setup's chain, by process name."""
    rss: dict[str, float] = field(default_factory=dict)
    side_cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of processes off the measured chain (the backend, the load generator, a local chain)."""

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else NAN

    def per_request_us(self, cpu_s: float) -> float:
        return cpu_s / self.ok * 1e6 if self.ok else NAN

    @property
    def cpu_per_request_us(self) -> float:
        """CPU of the whole chain (all its processes) per request, µs; NaN for a chain of none."""
        return self.per_request_us(sum(self.cpu.values())) if self.cpu else NAN

    @property
    def cpu_per_token_us(self) -> float:
        return ratio(self.cpu_per_request_us, float(self.tokens))


@dataclass
class Summary:
    """Medians over the repetitions of one setup under one scenario."""

    runs: list[Measurement] = field(default_factory=list)

    def med(self, figure: Callable[[Measurement], float]) -> float:
        return median([figure(m) for m in self.runs])

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.runs)

    def process_cpu_us(self) -> dict[str, float]:
        """Median CPU per request of each process, µs."""
        names = self.runs[0].cpu if self.runs else {}
        return {n: median([m.per_request_us(m.cpu.get(n, NAN)) for m in self.runs]) for n in names}

    def rss(self) -> dict[str, float]:
        """Median RSS of each process, MiB."""
        names = self.runs[0].rss if self.runs else {}
        return {n: median([m.rss.get(n, NAN) for m in self.runs]) for n in names}


def fmt(value: float, kind: str) -> str:
    """A figure for the table: ``ms`` (from seconds), ``int`` (thousands separated), ``x`` (ratio)."""
    if math.isnan(value):
        return "—"
    if kind == "ms":
        return f"{value * 1e3:.2f} ms"
    if kind == "x":
        return f"{value:.2f}×"
    return f"{value:,.0f}"


COLUMNS = (
    "setup (same fake backend)",
    "c=1 non-stream p50",
    "CPU µs/request, c=1 / c=32",
    "c=32 req/s",
    "c=32 streams/s",
    "CPU µs/stream c=32",
    "CPU µs/token event, c=32 burst / c=128 paced",
    "paced c=1 TTFT",
    "RSS MiB",
    "errors",
)


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


Grid = dict[str, dict[str, Summary]]
"""Summaries by setup name, then by scenario name (``c1``, ``c32``, ``s32``, ``p1``, ``p128``)."""


def table(grid: Grid) -> str:
    """The main table: one row per setup, the columns of `COLUMNS`."""
    rows = []
    for setup, by in grid.items():
        cpu = {k: by[k].med(lambda m: m.cpu_per_request_us) for k in ("c1", "c32", "s32")}
        tok = {k: by[k].med(lambda m: m.cpu_per_token_us) for k in ("s32", "p128")}
        rss = by["c32"].rss()
        rows.append([
            setup,
            fmt(by["c1"].med(lambda m: m.p50_latency), "ms"),
            f"{fmt(cpu['c1'], 'int')} / {fmt(cpu['c32'], 'int')}",
            fmt(by["c32"].med(lambda m: m.rate), "int"),
            fmt(by["s32"].med(lambda m: m.rate), "int"),
            fmt(cpu["s32"], "int"),
            f"{fmt(tok['s32'], 'int')} / {fmt(tok['p128'], 'int')}",
            fmt(by["p1"].med(lambda m: m.p50_ttft), "ms"),
            " + ".join(f"{v:.0f}" for v in rss.values()) or "—",
            str(sum(s.errors for s in by.values())),
        ])  # fmt: skip
    return _markdown(COLUMNS, rows)


RATIO_FIGURES: tuple[tuple[str, str, Callable[[Measurement], float], bool], ...] = (
    ("c1", "c=1 p50", lambda m: m.p50_latency, False),
    ("c1", "CPU/req c=1", lambda m: m.cpu_per_request_us, False),
    ("c32", "CPU/req c=32", lambda m: m.cpu_per_request_us, False),
    ("s32", "CPU/stream c=32", lambda m: m.cpu_per_request_us, False),
    ("c32", "req/s c=32", lambda m: m.rate, True),
    ("s32", "streams/s c=32", lambda m: m.rate, True),
    ("s32", "CPU/token burst", lambda m: m.cpu_per_token_us, False),
    ("p128", "CPU/token paced", lambda m: m.cpu_per_token_us, False),
)
"""(scenario, label, figure, higher is better) of the ratio table."""


def added(grid: Grid, setup: str, scenario: str, figure: Callable[[Measurement], float], base: str) -> float:
    """How much ``setup`` adds to ``base`` in ``figure`` (medians), e.g. added latency over direct."""
    if base not in grid or setup not in grid:
        return NAN
    return grid[setup][scenario].med(figure) - grid[base][scenario].med(figure)


def ratio_table(grid: Grid, reference: str, direct: str = "direct", label: str = "") -> str:
    """Every setup's figures divided by ``reference``'s (both medians), plus added latency ratios
    (what a setup adds to ``direct`` over what ``reference`` adds); ``label`` names the reference."""
    header = ["setup ÷ " + (label or reference), *(name for _, name, _, _ in RATIO_FIGURES)]
    header += ["added c=1 p50", "added paced TTFT"]
    rows = []
    for setup, by in grid.items():
        row = [setup]
        for scenario, _, figure, _ in RATIO_FIGURES:
            row.append(fmt(ratio(by[scenario].med(figure), grid[reference][scenario].med(figure)), "x"))
        for scenario, figure in (("c1", _p50), ("p1", _ttft)):
            mine = added(grid, setup, scenario, figure, direct)
            ref = added(grid, reference, scenario, figure, direct)
            row.append(fmt(ratio(mine, ref), "x"))
        rows.append(row)
    return _markdown(header, rows)


def _p50(m: Measurement) -> float:
    return m.p50_latency


def _ttft(m: Measurement) -> float:
    return m.p50_ttft
