"""Prometheus metrics without a library (pure): histograms with fixed buckets, and the text format.

A service keeps plain ints in its own counters (and a `Histogram` per latency), so the hot path only
increments; each scrape of ``GET /metrics`` builds an `Exposition` from those counters and renders it
once. There is no global registry: what a node exposes is exactly what its scrape function writes,
and two services in one process (the tests) never share a metric.

The output is the Prometheus text format 0.0.4: per family a ``# HELP`` and a ``# TYPE`` line, then
its samples (``name{label="value"} number``); a histogram's cumulative ``_bucket`` samples end with
``le="+Inf"``, followed by ``_sum`` and ``_count``.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from cocoon.errors import CocoonError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The content type of a scrape's answer."""

LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Upper bounds, in seconds, of the latency histograms (time to first token, whole request)."""

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

Labels = Mapping[str, str]
Sample = tuple[Labels, float]
"""One sample of a family: its labels and its value."""


class MetricsError(CocoonError):
    """A metric or label name that the text format cannot carry (a bug in the code that names it)."""


class Histogram:
    """Counts of observations per fixed bucket, and their sum; `observe` is two increments."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        if not bounds or list(bounds) != sorted(set(bounds)) or not all(math.isfinite(b) for b in bounds):
            raise MetricsError(f"histogram bounds must be finite and strictly increasing, got {bounds!r}")
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation (a value equal to a bound falls in that bound's bucket)."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        """How many values were observed."""
        return sum(self.counts)


def _value(number: float) -> str:
    if isinstance(number, int):
        return str(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    for name in labels:
        if not _LABEL.match(name) or name.startswith("__"):
            raise MetricsError(f"{name!r} is not a valid Prometheus label name")
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(str(value))}"' for name, value in labels.items()) + "}"


class Exposition:
    """One scrape's families, in the order they are added; `text` renders them."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._names: set[str] = set()

    def _family(self, name: str, kind: str, help_text: str) -> None:
        if not _NAME.match(name):
            raise MetricsError(f"{name!r} is not a valid Prometheus metric name")
        if name in self._names:
            raise MetricsError(f"metric {name} is written twice in one scrape")
        self._names.add(name)
        self._lines.append(f"# HELP {name} {_escape(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")

    def counter(self, name: str, help_text: str, samples: float | Iterable[Sample]) -> None:
        """A counter family (its name ends in ``_total``): one unlabelled value, or labelled samples."""
        if not name.endswith("_total"):
            raise MetricsError(f"counter {name} must end in _total")
        self._samples(name, "counter", help_text, samples)

    def gauge(self, name: str, help_text: str, samples: float | Iterable[Sample]) -> None:
        """A gauge family: one unlabelled value, or labelled samples."""
        self._samples(name, "gauge", help_text, samples)

    def _samples(self, name: str, kind: str, help_text: str, samples: float | Iterable[Sample]) -> None:
        self._family(name, kind, help_text)
        if isinstance(samples, int | float):
            samples = [({}, samples)]
        self._lines.extend(f"{name}{_labels(labels)} {_value(value)}" for labels, value in samples)

    def histogram(
        self, name: str, help_text: str, histograms: Histogram | Iterable[tuple[Labels, Histogram]]
    ) -> None:
        """A histogram family: one histogram, or one per label set (each with its own buckets)."""
        self._family(name, "histogram", help_text)
        if isinstance(histograms, Histogram):
            histograms = [({}, histograms)]
        for labels, histogram in histograms:
            cumulative = 0
            for bound, count in zip((*histogram.bounds, math.inf), histogram.counts, strict=True):
                cumulative += count
                bucket = {**labels, "le": _value(float(bound))}
                self._lines.append(f"{name}_bucket{_labels(bucket)} {cumulative}")
            self._lines.append(f"{name}_sum{_labels(labels)} {_value(histogram.total)}")
            self._lines.append(f"{name}_count{_labels(labels)} {cumulative}")

    @property
    def names(self) -> frozenset[str]:
        """The family names written so far."""
        return frozenset(self._names)

    def text(self) -> str:
        """The exposition, one line per entry, ending in a newline."""
        return "\n".join(self._lines) + "\n"
