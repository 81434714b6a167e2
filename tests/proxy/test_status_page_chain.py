"""The proxy's status page on a real local chain (the settlement of `test_onchain`): the page made from
the settlement's own ``/jsonstats`` part shows the proxy contract, the params version, each payment
channel's token totals as they move to the chain, and a requested close."""

from __future__ import annotations

import re
from pathlib import Path

from test_onchain import World, record

from cocoon.proxy.status_page import render_proxy_status


def channel_row(page: str, kind: str) -> list[str]:
    """The cells of the payment channel row of ``kind``."""
    found = re.search(rf"<tr><td>{kind}</td>(.*?)</tr>", page)
    assert found is not None, f"no {kind} channel row"
    return re.findall(r"<td>(.*?)</td>", found.group(1))


async def test_the_page_follows_the_channels_to_the_chain_and_shows_the_close(tmp_path: Path) -> None:
    world = World(tmp_path)
    s = await world.started()
    ledger = s.ledger
    world.open_client(s.contract, 3 * 10**9)
    world.open_worker(s.contract)
    await s.tick()
    record(ledger, s, "r1", 1500)
    page = render_proxy_status({"chain": s.stats()})
    assert f"<code>{s.contract.raw}</code>" in page
    assert f"<td>params version</td><td>{world.params.params_version}</td>" in page
    assert '<span class="ok">ready</span>' in page and "<td>close</td><td>not requested</td>" in page
    assert channel_row(page, "client")[1:] == ["1500", "0", "0"]  # signed, stored, committed

    await s.force()
    await s.tick()
    page = render_proxy_status({"chain": s.stats()})
    assert channel_row(page, "client")[1:] == ["1500", "1500", "1500"]
    assert channel_row(page, "worker")[1:] == ["1500", "1500", "1500"]

    s.request_close()
    page = render_proxy_status({"chain": s.stats()})
    phase = s.stats()["close"]["phase"]
    assert f"<td>close</td><td>{phase}</td>" in page and "not requested" not in page
