"""Long auth on chain for COCOON-protocol proxies: our client contract, checked, funded and registered.

`ChainLongAuth` is the `cocoon.client.cocoon_auth.LongAuth` of a client daemon with a chain: the
reference client's contract flow, for contracts with the reference's layout:

1. derive our client contract's address from the root's client code and the data the proxy's
   parameters fix (owner = our node wallet, the proxy's contract and key, the root's params) and refuse
   a proxy that names another address (it would have us pay into someone else's contract); where the
   contracts know the root's address (the public network's, `reference_contracts`), the proxy's own
   contract is checked the same way first, as the reference client does;
2. deploy it when it is not active yet;
3. keep its secret hash in sync with ``cocoon_secret`` (one ``owner_client_change_secret_hash`` with a
   top-up), or top it up when its balance is under one stake;
4. send ``owner_client_register(nonce)`` from the node wallet; the contract tells the proxy's
   contract, whose watcher completes the proxy's pending ``client.authorizeWithProxyLong``.

While connected, `ChainLongAuth.keep_funded` tops the contract up (``ext_client_top_up``) whenever
its balance, less what the proxy counts as used but has not charged yet, falls under half a stake.

Which network's contracts: `our_contracts` (our root's params) or `reference_contracts` (the public
network's root, params up to v5, read by `cocoon.ton.reference`); the owner messages are the same.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cocoon.errors import PaymentError
from cocoon.tl.types import ProxyParams
from cocoon.ton import messages as m
from cocoon.ton import reference as ref
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ClientData, address_of, client_state_init
from cocoon.ton.ops import CLIENT_DEPLOY_VALUE, TON
from cocoon.ton.params import Params
from cocoon.ton.reference.proxy_contract import proxy_contract_address
from cocoon.wallet.sender import MessageSender

log = logging.getLogger(__name__)

REGISTER_VALUE = TON
"""TON attached to ``owner_client_register`` (the reference's value; the excess comes back)."""
OP_VALUE = TON // 5


@dataclass(frozen=True)
class ContractView:
    """What long auth reads of a client contract."""

    secret_hash: int
    balance: int
    stake: int
    tokens_used: int
    """Tokens the contract has been charged for."""


@dataclass(frozen=True)
class ClientContracts:
    """One network's client contracts: their state init and how to read them."""

    state_init: Callable[[Address, Address, bytes], tuple[Cell, Cell]]
    """(code, data) for (owner, proxy contract, proxy public key)."""
    read: Callable[[Cell], ContractView]
    min_stake: int
    price_per_token: int
    proxy_contract: Callable[[Address, bytes], Address] | None = None
    """The proxy contract a proxy's (owner, public key) make under the root, when known; a proxy
    naming another one is refused before anything is sent."""


def our_contracts(params: Params) -> ClientContracts:
    """The client contracts of a network of ours (its root's ``params``)."""

    def state_init(owner: Address, proxy: Address, key: bytes) -> tuple[Cell, Cell]:
        return client_state_init(owner, proxy, int.from_bytes(key, "big"), params)

    def read(data: Cell) -> ContractView:
        state = ClientData.from_cell(data)
        return ContractView(state.secret_hash, state.balance, state.stake, state.tokens_used)

    return ClientContracts(state_init, read, params.min_client_stake, params.price_per_token)


def reference_contracts(root: ref.RefRootState, root_address: Address | None = None) -> ClientContracts:
    """The client contracts of the public COCOON network (its root as `cocoon.ton.reference` reads it);
    with ``root_address``, proxies' contracts are checked against the root too."""

    def state_init(owner: Address, proxy: Address, key: bytes) -> tuple[Cell, Cell]:
        return ref.client_state_init(root, owner, proxy, key)

    def read(data: Cell) -> ContractView:
        state = ref.parse_client_state(data)
        return ContractView(
            int.from_bytes(state.secret_hash, "big"), state.balance, state.stake, state.tokens_used
        )

    checked = None
    if root_address is not None:
        at = root_address

        def checked(owner: Address, key: bytes) -> Address:
            return proxy_contract_address(root, at, owner, key)

    params = root.params
    return ClientContracts(state_init, read, params.min_client_stake, params.price_per_token, checked)


class ChainLongAuth:
    """Registers our client contract with a proxy's nonce (see the module docstring)."""

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        contracts: ClientContracts,
        *,
        secret: bytes = b"",
        top_up_nano: int = 0,
    ) -> None:
        self.chain, self.sender, self.contracts = chain, sender, contracts
        self.secret = secret
        self.top_up_nano = top_up_nano or contracts.min_stake
        self.registrations = 0
        self.top_ups = 0

    async def register(self, proxy: ProxyParams, client_sc_address: str, nonce: int) -> None:
        proxy_contract = Address.parse(proxy.proxy_sc_address)
        if self.contracts.proxy_contract is not None:
            expected = self.contracts.proxy_contract(
                Address.parse(proxy.proxy_owner_address), proxy.proxy_public_key
            )
            if proxy_contract != expected:
                raise PaymentError(
                    f"the proxy names proxy contract {proxy.proxy_sc_address}, but its owner "
                    f"{proxy.proxy_owner_address} and key make {expected} under the root; refusing to "
                    "register with it (check root_address, or use another proxy)"
                )
        init = self.contracts.state_init(self.sender.address, proxy_contract, proxy.proxy_public_key)
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
        view = self.contracts.read(state.data)
        wanted = int.from_bytes(hashlib.sha256(self.secret).digest(), "big")
        owner = self.sender.address
        if view.secret_hash != wanted:
            body = m.OwnerClientChangeSecretHashAndTopUp(
                query_id=1, amount=self.top_up_nano, secret_hash=wanted, excess_to=owner
            ).to_cell()
            await self.sender.send(ours, self.top_up_nano + OP_VALUE, body)
        elif view.balance < view.stake:
            top_up = m.ExtClientTopUp(query_id=1, amount=self.top_up_nano, excess_to=owner).to_cell()
            await self.sender.send(ours, self.top_up_nano + OP_VALUE, top_up)
        register = m.OwnerClientRegister(query_id=1, nonce=nonce & (1 << 64) - 1, excess_to=owner)
        await self.sender.send(ours, REGISTER_VALUE, register.to_cell())
        self.registrations += 1

    async def keep_funded(self, client_sc_address: str, used_tokens: int) -> bool:
        """Top up our client contract when its balance, less ``used_tokens`` the proxy counts but has
        not charged yet, is under half its stake; True when a top-up was sent."""
        address = Address.parse(client_sc_address)
        state = await self.chain.get_account(address)
        if state.data is None:
            return False
        view = self.contracts.read(state.data)
        uncharged = max(used_tokens - view.tokens_used, 0) * self.contracts.price_per_token
        if view.balance - uncharged >= view.stake // 2:
            return False
        owner = self.sender.address
        log.info(
            "client contract %s is low (%d nanoTON, %d uncharged); topping up",
            address,
            view.balance,
            uncharged,
        )
        body = m.ExtClientTopUp(query_id=1, amount=self.top_up_nano, excess_to=owner).to_cell()
        await self.sender.send(address, self.top_up_nano + OP_VALUE, body)
        self.top_ups += 1
        return True
