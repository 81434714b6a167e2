"""A strict reader of the Prometheus text format 0.0.4, for tests: `parse` returns every family with
its type and samples, and raises `AssertionError` on anything a Prometheus server would refuse or
misread (a sample before its ``# TYPE``, a bad name or label, a value that is not a number, a family
typed twice, histogram buckets that are not cumulative or do not end in ``+Inf`` equal to ``_count``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"({_NAME})(?:\{{(.*)\}})? (\S+)\Z")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|\Z)')
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


@dataclass
class Family:
    name: str
    kind: str
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _LABEL.match(text, pos)
        assert match, f"bad labels {text!r} at {pos}"
        assert match.group(1) not in labels, f"label {match.group(1)} repeated in {text!r}"
        labels[match.group(1)] = match.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = match.end()
    return labels


def _number(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    return float(text)  # raises ValueError on anything else


def _family_of(name: str, families: dict[str, Family]) -> Family:
    if name in families:
        return families[name]
    for family in families.values():
        for suffix in _SUFFIXES.get(family.kind, ()):
            if suffix and name == family.name + suffix:
                return family
    raise AssertionError(f"sample {name} comes before (or without) the # TYPE of its family")


def parse(text: str) -> dict[str, Family]:
    """Every family of an exposition, checked (see the module docstring)."""
    assert text.endswith("\n"), "an exposition ends with a newline"
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name) and name not in helps, f"bad or repeated HELP: {line!r}"
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name) and kind in _TYPES, f"bad TYPE line {line!r}"
            assert name not in families, f"family {name} typed twice"
            families[name] = Family(name, kind, helps.get(name, ""))
        elif line.startswith("#") or not line:
            continue
        else:
            match = _SAMPLE.match(line)
            assert match, f"bad sample line {line!r}"
            name, labels, value = match.group(1), _labels(match.group(2)), _number(match.group(3))
            _family_of(name, families).samples.append((name, labels, value))
    for family in families.values():
        if family.kind == "histogram":
            _check_histogram(family)
        if family.kind == "counter":
            assert all(v >= 0 for _, _, v in family.samples), f"counter {family.name} went negative"
    return families


def _check_histogram(family: Family) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for name, labels, value in family.samples:
        if name.endswith("_bucket"):
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            series.setdefault(key, []).append((_number(labels["le"]), value))
        elif name.endswith("_count"):
            counts[tuple(sorted(labels.items()))] = value
    assert series, f"histogram {family.name} has no buckets"
    for key, buckets in series.items():
        bounds = [bound for bound, _ in buckets]
        assert bounds == sorted(bounds) and math.isinf(bounds[-1]), f"{family.name}: buckets out of order"
        values = [value for _, value in buckets]
        assert values == sorted(values), f"{family.name}: buckets are not cumulative"
        assert counts.get(key) == values[-1], f"{family.name}: +Inf bucket differs from _count"


def values(families: dict[str, Family], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples named ``name`` (a family or a histogram's ``_bucket``/``_sum``/``_count``) by labels."""
    return {
        tuple(sorted(labels.items())): value
        for family in families.values()
        for sample, labels, value in family.samples
        if sample == name
    }
