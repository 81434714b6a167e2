"""What the proxy knows of its counterpart contracts: each client's and worker's contract on chain.

A client or worker contract reports its state to the proxy contract with every operation (see
:mod:`.chain_reader`); a counterpart not heard from yet is read directly. For each one
:class:`Counterparts` keeps a :class:`Target`: the contract's address, the cumulative total it has
recorded on chain and the signed payment in flight to it. Client contracts also keep their full
:class:`~cocoon.payments.credit.ClientContractView`, from which the proxy decides how much a client
may still spend.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.payments.credit import ClientContractView, client_view
from cocoon.payments.params import NO_TOKENS, Tokens
from cocoon.proxy.ledger import CLIENT_CHANNEL
from cocoon.proxy.settlement.channels import ChannelKey, Channels
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ClientData, WorkerData, address_of, client_state_init, worker_state_init
from cocoon.ton.params import Params

ABSENT_RECHECK_S = 30.0
"""After a counterpart contract was found not deployed, seconds before it is read again; doubled
after each read that still finds nothing, up to `ABSENT_RECHECK_MAX_S`."""
ABSENT_RECHECK_MAX_S = 600.0


@dataclass
class Target:
    """One counterpart contract: its address and the total it has recorded on chain."""

    address: Address
    on_chain: Tokens = NO_TOKENS
    active: bool = False
    in_flight: tuple[int, float] | None = None  # (tokens sent, when)
    absent_until: float = 0.0
    """Monotonic seconds before which a contract found not deployed is not read again."""
    absent_for_s: float = 0.0


class Counterparts:
    """The client and worker contracts of one proxy contract, as last seen on chain.

    ``channels`` is the settlement's :class:`~.channels.Channels`: a client that asks to close before
    its first request gets a channel there, so that its refund is granted.
    """

    def __init__(
        self,
        chain: Chain,
        contract: Address,
        public_key: int,
        chain_params: Params,
        channels: Channels,
    ) -> None:
        self.chain = chain
        self.contract = contract
        self.public_key = public_key
        self.chain_params = chain_params
        self.channels = channels
        self.clients: dict[str, ClientContractView] = {}
        self.targets: dict[ChannelKey, Target] = {}

    def client_contract(self, owner: Address) -> Address:
        """The address of ``owner``'s client contract with this proxy."""
        return address_of(client_state_init(owner, self.contract, self.public_key, self.chain_params))

    def worker_contract(self, owner: Address) -> Address:
        """The address of ``owner``'s worker contract with this proxy."""
        return address_of(worker_state_init(owner, self.contract, self.public_key, self.chain_params))

    def target(self, kind: str, owner: str) -> Target:
        """The counterpart of channel ``(kind, owner)`` (created, not yet active, on first use)."""
        key = (kind, owner)
        target = self.targets.get(key)
        if target is None:
            address = Address.parse(owner)
            contract = (
                self.client_contract(address) if kind == CLIENT_CHANNEL else self.worker_contract(address)
            )
            target = self.targets[key] = Target(contract)
        return target

    def update_client(self, owner: str, view: ClientContractView) -> None:
        """A client contract reported its state (forwarded note or direct read)."""
        old = self.clients.get(owner)
        # Notes may be read out of order with a direct read: the contract's tokens_used never drops.
        if old is None or view.sc_tokens_used >= old.sc_tokens_used:
            self.clients[owner] = view
        if view.state == 1:
            # a client closing before any request still gets its refund
            self.channels.open(CLIENT_CHANNEL, owner)
        target = self.target(CLIENT_CHANNEL, owner)
        target.on_chain = max(target.on_chain, view.sc_tokens_used)
        target.active = True

    def update_worker(self, kind: str, owner: str, tokens: int) -> None:
        """A worker contract reported the cumulative ``tokens`` it has been paid for."""
        target = self.target(kind, owner)
        target.on_chain = max(target.on_chain, Tokens(tokens))
        target.active = True

    async def register_client(self, owner: Address) -> ClientContractView | None:
        """Learn a client's contract state from the chain (``None`` if it is not deployed yet)."""
        state = await self.chain.get_account(self.client_contract(owner))
        if state.status is not AccountStatus.ACTIVE or state.data is None:
            return None
        return self._take_client(owner.raw, state.data)

    def _take_client(self, owner: str, data: Cell) -> ClientContractView:
        """What a client contract's data says, recorded (`update_client`)."""
        view = client_view(ClientData.from_cell(data))
        self.update_client(owner, view)
        return view

    async def load(self, kind: str, owner: str, now: float) -> bool:
        """Read a counterpart contract not heard from yet; whether it is deployed.

        One found not deployed is read again only after a back-off (`ABSENT_RECHECK_S`, doubling):
        a proxy with a thousand workers that never deployed their contracts would otherwise read a
        thousand accounts every settlement tick. A contract that deploys reports to the proxy
        contract (`update_worker`/`update_client`), which activates it at once, back-off or not."""
        target = self.target(kind, owner)
        if now < target.absent_until:
            return False
        state = await self.chain.get_account(target.address)
        if state.status is not AccountStatus.ACTIVE or state.data is None:
            target.absent_for_s = min(ABSENT_RECHECK_MAX_S, max(ABSENT_RECHECK_S, 2 * target.absent_for_s))
            target.absent_until = now + target.absent_for_s
            return False
        if kind == CLIENT_CHANNEL:
            self._take_client(owner, state.data)
        else:
            self.update_worker(kind, owner, WorkerData.from_cell(state.data).tokens)
        return True
