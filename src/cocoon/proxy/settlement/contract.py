"""The proxy contract itself: deployed and staked before the first note.

A proxy's contract address follows from (owner, its public key, root, params) (``proxy_state_init``),
so a restarted proxy finds the same contract. At start the contract is deployed if it is not active
yet (:data:`~cocoon.ton.ops.DEPLOY_VALUE`) and its stake raised to the network's ``min_proxy_stake``;
the stake is what a client's forced close is paid from when the proxy stops answering.
"""

from __future__ import annotations

import logging

from cocoon.errors import ChainError
from cocoon.proxy.settlement.payment_signer import new_query_id
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ProxyData
from cocoon.ton.ops import COMMISSION_ESTIMATE, DEPLOY_VALUE
from cocoon.ton.params import Params
from cocoon.wallet.sender import MessageSender

log = logging.getLogger(__name__)


async def ensure_contract(
    chain: Chain, sender: MessageSender, contract: Address, init: tuple[Cell, Cell], params: Params
) -> None:
    """Deploy ``contract`` from ``init`` (0.3 TON) if needed and raise its stake to the network minimum."""
    state = await chain.get_account(contract)
    if state.status is not AccountStatus.ACTIVE:
        log.info("deploying the proxy contract %s", contract)
        await sender.send(contract, DEPLOY_VALUE, state_init=init, bounce=False)
        state = await chain.get_account(contract)
        if state.status is not AccountStatus.ACTIVE or state.data is None:
            raise ChainError(f"the proxy contract {contract} did not deploy; check the wallet")
    assert state.data is not None
    proxy = ProxyData.from_cell(state.data)
    if proxy.state != 0:
        log.warning(
            "the proxy contract %s is closing or closed (state %d): no stake added", contract, proxy.state
        )
        return
    missing = params.min_proxy_stake - proxy.stake
    if missing > 0:
        body = m.ExtProxyIncreaseStake(query_id=new_query_id(), grams=missing, excess_to=sender.address)
        await sender.send(contract, missing + 2 * COMMISSION_ESTIMATE, body.to_cell())
