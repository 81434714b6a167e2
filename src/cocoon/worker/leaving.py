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

OPEN, CLOSING, CLOSED = 0, 1, 2
"""Contract states (proxy, worker and client alike)."""
GONE = -1
"""A proxy contract no longer on the chain (its account holds no data)."""


def proxy_contract_state(data: Cell | None) -> int:
    """The ``state`` of a proxy contract with this data (:data:`GONE` without data)."""
    return GONE if data is None else ProxyData.from_cell(data).state


def closing_reason(state: int, proxy_contract: Address) -> str | None:
    """Why a proxy contract in ``state`` no longer takes work, or None while it is open."""
    if state == OPEN:
        return None
    what = {GONE: "gone from the chain", CLOSED: "closed"}.get(state, "closing")
    return f"proxy contract {proxy_contract.raw} is {what}"


def attach_refusal(proxy: ProxyData, ours: Params, leaving: str | None) -> str | None:
    """Why the worker does not attach to a proxy contract (None: it does)."""
    if proxy.state != OPEN:
        return "is closing; this worker serves it no more (it may redeploy under the next params)"
    if leaving is not None:
        return f"was left ({leaving}); waiting for the proxy to redeploy"
    if proxy.params.params_version != ours.params_version:
        return (
            f"is under params version {proxy.params.params_version} and the root's is "
            f"{ours.params_version}; waiting for the proxy to redeploy under the root's params"
        )
    return None
