"""`settle_heap`: a node's long-lived objects frozen, young collections rarer; cycles still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from cocoon.cli.service_runner import GC_YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_the_heap_is_frozen_and_young_collections_are_rarer(restored_gc: None) -> None:
    older = gc.get_threshold()[1:]
    settle_heap()
    assert gc.get_freeze_count() > 1000  # the modules and classes loaded so far
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *older)
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle made after the freeze is garbage like any other
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
