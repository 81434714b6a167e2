"""Every client and worker contract of a closing proxy, as the chain shows it now.

Which contracts exist is learnt from the channels, the client contracts seen, and once per process
from the proxy contract's whole transaction list: every client and worker contract that ever sent it a
request (each checked by recomputing its address), so a client that topped up and never asked anything
is refunded too. Each contract is then read for its state and the tokens it has recorded.
"""

from __future__ import annotations

from cocoon.chainsvc.watch import poll
from cocoon.proxy.closing import Party
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL
from cocoon.proxy.settlement.channels import Channels
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ClientData, WorkerData
from cocoon.ton.watch import TxCursor


class CloseParties:
    """Reads the counterpart contracts of the proxy contract at ``contract`` for its close."""

    def __init__(
        self, chain: Chain, contract: Address, channels: Channels, counterparts: Counterparts
    ) -> None:
        self.chain, self.contract = chain, contract
        self.channels, self.counterparts = channels, counterparts
        self._history: set[tuple[bool, str]] | None = None

    async def read(self) -> tuple[Party, ...]:
        """Every client and worker contract of this proxy as the chain shows it now."""
        if self._history is None:
            self._history = await self._from_history()
        known = {(kind == CLIENT_CHANNEL, owner) for kind, owner in self.channels.all_keys()}
        known |= {(True, owner) for owner in self.counterparts.clients}
        parties = []
        for is_client, owner in sorted(known | self._history):
            kind = CLIENT_CHANNEL if is_client else WORKER_CHANNEL
            owed = self.channels.counters(kind, owner).committed_to_chain
            state = await self.chain.get_account(self.counterparts.target(kind, owner).address)
            if state.status is not AccountStatus.ACTIVE or state.data is None:
                parties.append(Party(is_client, owner, False, 0, 0, owed))
            elif is_client:
                client = ClientData.from_cell(state.data)
                parties.append(Party(True, owner, True, client.state, client.tokens_used, owed))
            else:
                worker = WorkerData.from_cell(state.data)
                parties.append(Party(False, owner, True, worker.state, worker.tokens, owed))
        return tuple(parties)

    async def _from_history(self) -> set[tuple[bool, str]]:
        """(is_client, owner) of every counterpart contract that ever sent the proxy contract a request."""
        found: set[tuple[bool, str]] = set()
        for tx in await poll(self.chain, TxCursor(self.contract)):
            msg = tx.in_msg
            if msg is None or msg.src is None or msg.external:
                continue
            body, c = msg.parsed, self.counterparts
            if isinstance(body, m.ClientProxyRequest | m.WorkerProxyRequest) and body.owner is not None:
                is_client = isinstance(body, m.ClientProxyRequest)
                contract = c.client_contract(body.owner) if is_client else c.worker_contract(body.owner)
                if msg.src == contract:  # only what the contract itself sent: its address is checked
                    found.add((is_client, body.owner.raw))
        return found
