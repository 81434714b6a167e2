"""Long auth on chain for COCOON-protocol proxies: our client contract, checked, funded and registered.

`ChainLongAuth` is the `cocoon.client.cocoon_auth.LongAuth` of a client daemon with a chain: the
reference client's contract flow, for contracts with the reference's layout (ours share it):

1. derive our client contract's address from the root's client code and the data the proxy's
   parameters fix (owner = our node wallet, the proxy's contract and key, the root's params) and refuse
   a proxy that names another address (it would have us pay into someone else's contract);
2. deploy it when it is not active yet;
3. keep its secret hash in sync with ``cocoon_secret`` (one ``owner_client_change_secret_hash`` with a
   top-up), or top it up when its balance is under one stake;
4. send ``owner_client_register(nonce)`` from the node wallet; the contract tells the proxy's
   contract, whose watcher completes the proxy's pending ``client.authorizeWithProxyLong``.

For the public network's root (params v5) the root's client code comes from the reference root
reader; the flow is the same.
"""

from __future__ import annotations

import hashlib
import logging

from cocoon.errors import PaymentError
from cocoon.tl.types import ProxyParams
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ClientData, address_of, client_state_init
from cocoon.ton.ops import CLIENT_DEPLOY_VALUE, TON
from cocoon.ton.params import Params
from cocoon.wallet.sender import MessageSender

log = logging.getLogger(__name__)

REGISTER_VALUE = TON
"""TON attached to ``owner_client_register`` (the reference's value; the excess comes back)."""
OP_VALUE = TON // 5


class ChainLongAuth:
    """Registers our client contract with a proxy's nonce (see the module docstring)."""

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        params: Params,
        *,
        secret: bytes = b"",
        top_up_nano: int = 0,
    ) -> None:
        self.chain, self.sender, self.params = chain, sender, params
        self.secret = secret
        self.top_up_nano = top_up_nano or params.min_client_stake
        self.registrations = 0

    async def register(self, proxy: ProxyParams, client_sc_address: str, nonce: int) -> None:
        proxy_contract = Address.parse(proxy.proxy_sc_address)
        key = int.from_bytes(proxy.proxy_public_key, "big")
        init = client_state_init(self.sender.address, proxy_contract, key, self.params)
        ours = address_of(init)
        if Address.parse(client_sc_address) != ours:  # a bad address is a ChainDataError
            raise PaymentError(
                f"the proxy names client contract {client_sc_address}, but ours (from the root's code, "
                f"our wallet {self.sender.address} and proxy contract {proxy.proxy_sc_address}) is "
                f"{ours}; refusing to pay into it"
            )
        if (await self.chain.get_account(ours)).status is not AccountStatus.ACTIVE:
            log.info("deploying client contract %s for proxy contract %s", ours, proxy_contract)
            await self.sender.send(ours, CLIENT_DEPLOY_VALUE, state_init=init, bounce=False)
        state = await self.chain.get_account(ours)
        if state.data is None:
            raise PaymentError(
                f"client contract {ours} has no data after its deployment; check the wallet's balance"
            )
        data = ClientData.from_cell(state.data)
        wanted = int.from_bytes(hashlib.sha256(self.secret).digest(), "big") if self.secret else None
        if wanted is not None and data.secret_hash != wanted:
            body = m.OwnerClientChangeSecretHashAndTopUp(
                query_id=1, amount=self.top_up_nano, secret_hash=wanted, excess_to=self.sender.address
            )
            await self.sender.send(ours, self.top_up_nano + OP_VALUE, body.to_cell())
        elif data.balance < data.stake:
            body_top_up = m.ExtClientTopUp(query_id=1, amount=self.top_up_nano, excess_to=self.sender.address)
            await self.sender.send(ours, self.top_up_nano + OP_VALUE, body_top_up.to_cell())
        register = m.OwnerClientRegister(
            query_id=1, nonce=nonce & (1 << 64) - 1, excess_to=self.sender.address
        )
        await self.sender.send(ours, REGISTER_VALUE, register.to_cell())
        self.registrations += 1
