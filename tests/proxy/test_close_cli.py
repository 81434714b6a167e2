"""`cocoon proxy close`'s progress lines and the close endpoint's loopback rule."""

from __future__ import annotations

from typing import Any

from cocoon.cli.proxy_close import progress
from cocoon.proxy.service import _loopback


def status(phase: str, **kw: Any) -> dict[str, Any]:
    return {"phase": phase, "pending": [], "seconds_left": 0, "unlock_ts": 0, "proxy_contract": "0:ab"} | kw


def test_each_phase_says_where_the_close_stands() -> None:
    assert "no new requests" in progress(status("requesting"))
    assert "committing every total" in progress(status("settling"))
    pending = [{"kind": "client"}, {"kind": "client"}, {"kind": "worker"}]
    assert "2 client(s)" in progress(status("settling", pending=pending))
    assert "1 worker(s)" in progress(status("settling", pending=pending))
    line = progress(status("waiting", seconds_left=412, unlock_ts=1_750_000_600))
    assert "412 s left on the chain's clock" in line and "1750000600" in line
    assert "close_complete" in progress(status("completing"))
    assert "0:ab sent everything" in progress(status("closed"))


def test_only_this_machine_may_close_the_proxy() -> None:
    assert _loopback("127.0.0.1") and _loopback("::1")
    assert not _loopback("10.0.0.7") and not _loopback(None) and not _loopback("not an address")
