"""The proxy's payment channel metrics on a real local chain (the settlement of `test_onchain`):
tokens signed, stored and committed per counterpart kind, and the chain lag, as a scrape shows them."""

from __future__ import annotations

from pathlib import Path

from test_onchain import World, record

from cocoon.metrics import Exposition
from cocoon.proxy.metrics import chain_metrics
from cocoon.proxy.settlement import ProxySettlement
from prometheus_text import parse, values


def scrape(settlement: ProxySettlement | None) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out = Exposition()
    chain_metrics(out, settlement)
    families = parse(out.text())
    return {name: values(families, name) for name in families}


async def test_channel_tokens_move_from_signed_to_committed_and_the_lag_closes(tmp_path: Path) -> None:
    world = World(tmp_path)
    s = await world.started()
    ledger = s.ledger
    world.open_client(s.contract, 3 * 10**9)
    world.open_worker(s.contract)
    await s.tick()
    record(ledger, s, "r1", 1500)
    before = scrape(s)
    tokens = before["cocoon_proxy_channel_tokens"]
    assert tokens[(("kind", "client"), ("state", "signed"))] == 1500
    assert tokens[(("kind", "worker"), ("state", "signed"))] == 1500
    assert tokens[(("kind", "client"), ("state", "stored"))] == 0
    assert before["cocoon_proxy_chain_lag_seqnos"] == {(): 0}

    s.committer.flush()  # stored in the database under a new seqno the chain has not seen yet
    stored = scrape(s)
    assert stored["cocoon_proxy_channel_tokens"][(("kind", "client"), ("state", "stored"))] == 1500
    assert stored["cocoon_proxy_channel_tokens"][(("kind", "client"), ("state", "committed"))] == 0
    assert stored["cocoon_proxy_chain_lag_seqnos"] == {(): 1}

    await s.force()
    await s.tick()
    after = scrape(s)
    tokens = after["cocoon_proxy_channel_tokens"]
    assert tokens[(("kind", "client"), ("state", "committed"))] == 1500
    assert tokens[(("kind", "worker"), ("state", "committed"))] == 1500
    assert after["cocoon_proxy_chain_enabled"] == {(): 1}
    assert after["cocoon_proxy_chain_lag_seqnos"] == {(): 0}


def test_without_a_chain_the_series_exist_at_zero() -> None:
    families = scrape(None)
    assert set(families["cocoon_proxy_channel_tokens"].values()) == {0}
    assert families["cocoon_proxy_chain_enabled"] == {(): 0}
    assert families["cocoon_proxy_chain_lag_seqnos"] == {(): 0}
