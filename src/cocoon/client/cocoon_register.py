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

Each top-up (and the secret's, which is one) is sent at most once per need: it is recorded in flight
per client contract from before it is handed to the wallet until the contract's data shows it (its
paid total, balance + tokens_used * price, reaches what it must be, and for the secret's, the secret
hash is ours), or until ``land_timeout_s`` after its inclusion, when it is taken as lost and sent
again if still needed (:mod:`cocoon.client.top_ups`, :mod:`cocoon.payments.top_up`). So a payment
status, or a re-registration, arriving while a top-up is on its way sends none on top of it. Steps 2
and 3 are single-flight per client contract: long auths that reach it together (two addresses of one
proxy) deploy and fund it once, then each registers its own nonce.

Which network's contracts: `our_contracts` (our root's params) or `reference_contracts` (the public
network's root, params up to v5, read by `cocoon.ton.reference`); the owner messages are the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cocoon.client.top_ups import COUNTERS, InFlight, decide, send_deploy, send_top_up
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import PaymentError
from cocoon.payments.params import Nano
from cocoon.payments.top_up import LAND_TIMEOUT_S, paid_total_nano
from cocoon.tl.types import ProxyParams
from cocoon.ton import messages as m
from cocoon.ton import reference as ref
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ClientData, address_of, client_state_init
from cocoon.ton.ops import TON
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
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.chain, self.sender, self.contracts = chain, sender, contracts
        self.clock = clock
        self.secret = secret
        self.top_up_nano = Nano(top_up_nano or contracts.min_stake)
        self.land_timeout_s = LAND_TIMEOUT_S
        """Seconds after its inclusion by which a top-up must show in the contract's data; after that
        it is taken as lost and sent again if still needed."""
        self.counters = {"registrations": 0, **dict.fromkeys(COUNTERS, 0)}
        """``top_ups_in_flight_skipped``: top-ups not sent because one for the same need is in flight;
        ``top_ups_expired``: top-ups taken as lost after ``land_timeout_s``."""
        self.in_flight: dict[str, InFlight] = {}
        """The top-ups sent and not seen landed yet, by client contract (raw)."""
        self._preparing: dict[str, asyncio.Task[None]] = {}
        """Preparations under way (deployment, secret, top-up), by client contract (raw)."""

    @property
    def registrations(self) -> int:
        return self.counters["registrations"]

    @property
    def top_ups(self) -> int:
        return self.counters["top_ups"]

    @property
    def wanted_secret_hash(self) -> int:
        return int.from_bytes(hashlib.sha256(self.secret).digest(), "big")

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
        await self._prepared(ours, init, proxy_contract)
        owner = self.sender.address
        register = m.OwnerClientRegister(query_id=1, nonce=nonce & (1 << 64) - 1, excess_to=owner)
        await self.sender.send(ours, REGISTER_VALUE, register.to_cell())
        self.counters["registrations"] += 1

    async def _prepared(self, ours: Address, init: tuple[Cell, Cell], proxy_contract: Address) -> None:
        """Our client contract deployed, its secret hash set and funded: single-flight per contract, so
        two long auths at once (two addresses of one proxy) deploy and fund it once; each registers its
        own nonce after. A cancelled caller leaves the preparation running for the others."""
        task = self._preparing.get(ours.raw)
        if task is None:
            task = asyncio.create_task(self._prepare(ours, init, proxy_contract), name=f"prepare {ours}")
            self._preparing[ours.raw] = task
            task.add_done_callback(lambda done: self._prepare_done(ours.raw, done))
        else:
            log.info("client contract %s is being prepared already; waiting for it", ours)
        await asyncio.shield(task)

    def _prepare_done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._preparing.get(key) is task:
            del self._preparing[key]
        if not task.cancelled():
            task.exception()  # retrieved: its callers got it, or none is left to

    async def _prepare(self, ours: Address, init: tuple[Cell, Cell], proxy_contract: Address) -> None:
        slot = self.in_flight.setdefault(ours.raw, InFlight())
        if (await self.chain.get_account(ours)).status is not AccountStatus.ACTIVE:
            await send_deploy(
                self.sender, self.clock, slot, ours, init, proxy_contract, self.land_timeout_s, self.counters
            )
        state = await self.chain.get_account(ours)
        if state.data is None:
            raise PaymentError(
                f"client contract {ours} is not deployed yet (its deployment is on its way, or the wallet "
                "could not pay it: check its balance); registering again later"
            )
        view = self.contracts.read(state.data)
        wanted = self.wanted_secret_hash
        owner = self.sender.address
        if view.secret_hash != wanted:  # one message sets the secret and tops up
            body = m.OwnerClientChangeSecretHashAndTopUp(
                query_id=1, amount=self.top_up_nano, secret_hash=wanted, excess_to=owner
            ).to_cell()
            await self._top_up(ours, view, self.top_up_nano, body, sets_secret=True)
        else:
            needed = Nano(self.top_up_nano if view.balance < view.stake else 0)
            top_up = m.ExtClientTopUp(query_id=1, amount=self.top_up_nano, excess_to=owner).to_cell()
            await self._top_up(ours, view, needed, top_up)

    async def keep_funded(self, client_sc_address: str, used_tokens: int) -> bool:
        """Top up our client contract when its balance, less ``used_tokens`` the proxy counts but has
        not charged yet, is under half its stake, unless a top-up sent for that is still in flight;
        True when a top-up was sent."""
        address = Address.parse(client_sc_address)
        state = await self.chain.get_account(address)
        if state.data is None:
            return False
        view = self.contracts.read(state.data)
        uncharged = max(used_tokens - view.tokens_used, 0) * self.contracts.price_per_token
        low = view.balance - uncharged < view.stake // 2
        if low:
            log.info("client contract %s is low (%d nanoTON, %d uncharged)", address, view.balance, uncharged)
        body = m.ExtClientTopUp(query_id=1, amount=self.top_up_nano, excess_to=self.sender.address)
        return await self._top_up(address, view, Nano(self.top_up_nano if low else 0), body.to_cell())

    async def _top_up(
        self, contract: Address, view: ContractView, needed: Nano, body: Cell, *, sets_secret: bool = False
    ) -> bool:
        """Send ``body`` topping ``contract`` up by ``needed`` (0: not needed) unless a top-up for the
        same need is in flight (:mod:`cocoon.client.top_ups`); True when it was sent."""
        slot = self.in_flight.setdefault(contract.raw, InFlight())
        paid = paid_total_nano(view.balance, view.tokens_used, self.contracts.price_per_token)
        decision = decide(
            slot,
            contract,
            needed,
            paid,
            self.clock.monotonic(),
            self.land_timeout_s,
            self.counters,
            secret_set=view.secret_hash == self.wanted_secret_hash,
            sets_secret=sets_secret,
        )
        if not decision.send_nano:
            return False
        log.info("topping client contract %s up by %d nanoTON", contract, decision.send_nano)
        await send_top_up(
            self.sender,
            self.clock,
            slot,
            contract,
            decision.send_nano,
            decision.send_nano + OP_VALUE,
            body,
            paid,
            self.counters,
            sets_secret=sets_secret,
        )
        return True

    def stats(self) -> dict[str, Any]:
        """Its counters and the top-ups in flight (nanoTON by client contract), for the status."""
        in_flight = {key: s.top_up.amount_nano for key, s in self.in_flight.items() if s.top_up}
        return {**self.counters, "top_ups_in_flight_nano": in_flight}
