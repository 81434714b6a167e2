"""The multi-host bed itself: a network over eight hosts answers through both proxies and every
token is paid, and stopping it leaves no process behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from netns_bed import Hosts, unavailable

from multihost import CLIENTS, PROXIES, WORKERS, Bed, check_money

pytestmark = pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "")


def test_the_network_answers_across_hosts_and_every_token_is_paid(tmp_path: Path) -> None:
    bed = Bed(Hosts(), tmp_path)
    try:
        bed.start()
        assert len({bed.addr(h) for h in ("chain", *PROXIES, *WORKERS, *CLIENTS)}) == 8
        for worker in WORKERS:  # slow enough that requests overlap and spread over the proxies
            bed.engine(worker, {"delay_ms": 20})
        answers = bed.ask_many(24)
        assert [status for status, _ in answers] == [200] * 24, answers
        # both proxies carried requests, and more than one worker answered
        served = [bed.stats(p)["chain"]["channels"] for p in PROXIES]
        assert all(any(ch["tokens_max"] for ch in s.values()) for s in served), served
        assert sum(bed.stats(w)["requests"]["served"] > 0 for w in WORKERS) >= 2
        assert check_money(bed) == bed.answered > 0
    finally:
        left = bed.stop()
    assert left == [], f"processes left behind: {left}"
    assert not bed.hosts.addresses
