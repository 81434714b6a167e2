"""The worker's status page for a proxy it leaves, on a real local chain (the parties of
`test_leave_onchain`): once the proxy's contract closes, the page made from the payouts' own
``/jsonstats`` part shows the offer to that proxy disabled, why, and the tokens signed and paid."""

from __future__ import annotations

from test_channels_onchain import WORKER_WALLET, Parties
from test_leave_onchain import PROXY_ADDRESS, LinkDouble, data_of, parties  # noqa: F401 (a fixture)
from test_onchain import PROXY_OWNER, SECRET

from cocoon.proxy.ledger import WORKER_CHANNEL
from cocoon.ton.data import ProxyData
from cocoon.ton.ops import TON, Op
from cocoon.ton.signed import sign_request
from cocoon.worker.status_page import render_worker_status


async def test_a_closing_proxy_shows_as_left_with_its_payout(parties: Parties) -> None:  # noqa: F811
    served = parties.request("r1", 300, 40)
    await parties.commit()
    proxy = parties.settlement.contract
    worker = parties.worker
    worker.on_update(proxy.raw, parties.update(WORKER_CHANNEL, WORKER_WALLET.raw))
    worker.links[proxy.raw] = LinkDouble()
    await worker.watch_proxies()

    def page() -> str:
        stats = worker.stats()
        leaving = stats["disabled"].get(PROXY_ADDRESS)  # what `WorkerService.leaving` reads
        proxies = {PROXY_ADDRESS: {"connected": True, "rtt": 0.001, "leaving": leaving}}
        return render_worker_status({"proxies": proxies, "payouts": stats})

    before = page()
    assert '<span class="ok">serving</span>' in before and '<span class="ok">open</span>' in before

    close = sign_request(SECRET, Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, query_id=7, target=proxy)
    parties.world.local.send_internal(PROXY_OWNER, proxy, TON // 2, close.to_cell())
    assert ProxyData.from_cell(data_of(parties, proxy)).state == 1
    assert await worker.watch_proxies() == 1
    after = page()
    assert '<span class="bad">disabled (leaving)</span>' in after and "closing" in after
    channel = worker.channels[proxy.raw]
    assert f"<td><code>{proxy.raw}</code></td><td>{served}</td><td>{channel.paid_tokens}</td>" in after
    assert '<span class="bad">leaving: ' in after
