"""When a worker leaves a proxy, and which proxy contracts it attaches to (pure).

A proxy contract that is closing or closed takes no more work: the worker leaves it (submitting what
it signed) and attaches to it no more. A proxy contract under other params than the root's is waited
for: after a ``params_version`` change, each proxy redeploys under the new params and its old
contract closes (spec/economics.md "Closing").
"""

from __future__ import annotations

from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.data import ProxyData
from cocoon.ton.params import Params

CLOSED = 2
"""The ``state`` of a closed contract (proxy, worker and client alike)."""


def closing_reason(data: Cell | None, proxy_contract: Address) -> str | None:
    """Why a proxy contract with this data no longer takes work, or None while it is open."""
    if data is None:
        return f"proxy contract {proxy_contract.raw} is gone from the chain"
    state = ProxyData.from_cell(data).state
    if state == 0:
        return None
    return f"proxy contract {proxy_contract.raw} is {'closed' if state == CLOSED else 'closing'}"


def attach_refusal(proxy: ProxyData, ours: Params, leaving: str | None) -> str | None:
    """Why the worker does not attach to a proxy contract (None: it does)."""
    if proxy.state != 0:
        return "is closing; this worker serves it no more (it may redeploy under the next params)"
    if leaving is not None:
        return f"was left ({leaving}); waiting for the proxy to redeploy"
    if proxy.params.params_version != ours.params_version:
        return (
            f"is under params version {proxy.params.params_version} and the root's is "
            f"{ours.params_version}; waiting for the proxy to redeploy under the root's params"
        )
    return None
