"""`cocoon.metrics`: fixed-bucket histograms and the text format, read back by a strict parser."""

from __future__ import annotations

import pytest

from cocoon.metrics import Exposition, Histogram, MetricsError
from prometheus_text import parse, values


def test_a_histogram_counts_each_value_in_its_bucket_and_renders_cumulative_buckets() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value)
    assert histogram.counts == [2, 1, 1] and histogram.count == 4  # 0.1 falls in le="0.1"
    out = Exposition()
    out.histogram("x_seconds", "A latency.", histogram)
    families = parse(out.text())
    buckets = values(families, "x_seconds_bucket")
    assert buckets == {(("le", "0.1"),): 2, (("le", "1.0"),): 3, (("le", "+Inf"),): 4}
    assert values(families, "x_seconds_sum") == {(): pytest.approx(3.65)}
    assert families["x_seconds"].kind == "histogram"


def test_counters_gauges_and_label_values_that_need_escaping() -> None:
    out = Exposition()
    out.counter("x_requests_total", "Requests.", [({"outcome": "ok"}, 3), ({"outcome": 'say "no"\\\n'}, 1)])
    out.gauge("x_up", "Up.", 1)
    families = parse(out.text())
    assert values(families, "x_requests_total") == {
        (("outcome", "ok"),): 3,
        (("outcome", 'say "no"\\\n'),): 1,
    }
    assert values(families, "x_up") == {(): 1} and families["x_up"].help == "Up."
    assert out.names == {"x_requests_total", "x_up"}


@pytest.mark.parametrize(
    "write",
    [
        lambda out: out.counter("x_requests", "no _total", 1),
        lambda out: out.gauge("x-bad", "bad name", 1),
        lambda out: out.gauge("x_ok", "bad label", [({"bad-label": "v"}, 1)]),
        lambda out: (out.gauge("x_twice", "once", 1), out.gauge("x_twice", "twice", 1)),
    ],
)
def test_what_the_format_cannot_carry_is_refused(write: object) -> None:
    with pytest.raises(MetricsError):
        write(Exposition())  # type: ignore[operator]


def test_histogram_bounds_must_increase() -> None:
    with pytest.raises(MetricsError):
        Histogram((1.0, 0.5))
