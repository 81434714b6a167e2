"""Closing the proxy contract: the asyncio shell around :func:`cocoon.proxy.closing.decide`.

Each :meth:`ProxyCloser.step` reads what the decision needs from the chain (the proxy contract, every
client and worker contract it ever had), decides, and sends what is due: the signed close request,
a save-state note, the signed ``grant_refund`` / ``last_payout`` messages, the signed close complete.
The operator's request is persisted (:meth:`.commit_store.CommitStore.request_close`) before anything is
sent, and the contract's own state is the rest of the progress: a proxy restarted mid-close finds its
contract ``closing`` (or the intent) and carries on where the chain shows it stopped.

Which contracts exist and where they stand is :mod:`.close_parties`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cocoon.clock import Clock
from cocoon.proxy.closing import (
    CLOSED_STATE,
    Action,
    CloseView,
    Commit,
    Decision,
    Party,
    Phase,
    SendCloseRequest,
    SendFinal,
    decide,
)
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL
from cocoon.proxy.settlement.channels import Channels
from cocoon.proxy.settlement.close_parties import CloseParties
from cocoon.proxy.settlement.commit_store import CommitStore
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.proxy.settlement.payment_signer import PaymentSigner, new_query_id
from cocoon.ton.address import Address
from cocoon.ton.chain import Chain
from cocoon.ton.data import ProxyData, worker_state_init
from cocoon.ton.ops import TON, Op
from cocoon.ton.signed import sign_request
from cocoon.wallet.sender import MessageSender, OutMessage

log = logging.getLogger(__name__)

CLOSE_VALUE = TON // 5
"""TON attached to the close request and the close complete (the change returns to the wallet)."""
FINAL_VALUE = 7 * TON // 10
"""TON attached to a grant_refund or last_payout (as to a charge; the change returns to the wallet)."""
REFUSAL = "this proxy is closing its contract and takes no new requests; use another proxy"
CLOSED_REFUSAL = (
    "this proxy's contract is closed; use another proxy (its operator starts one on a new contract)"
)


class ProxyCloser:
    """Closes the proxy contract at ``contract`` (see the module docstring).

    ``commit`` flushes the channels and sends a save-state note now; :attr:`requests_running` says how
    many requests are still being answered (the service sets it; 0 by default).
    """

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        contract: Address,
        secret_key: bytes,
        store: CommitStore,
        channels: Channels,
        counterparts: Counterparts,
        signer: PaymentSigner,
        commit: Callable[[], Awaitable[None]],
        clock: Clock,
    ) -> None:
        self.chain, self.sender, self.contract = chain, sender, contract
        self.secret_key, self.store = secret_key, store
        self.channels, self.counterparts, self.signer = channels, counterparts, signer
        self.commit, self.clock = commit, clock
        self.requests_running: Callable[[], int] = lambda: 0
        self.intent = store.close_requested
        self.decision = Decision(Phase.REQUESTING if self.intent else Phase.OPEN)
        self.proxy: ProxyData | None = None
        self.chain_now = 0
        self.sent: dict[str, float] = {}
        self.messages_sent = 0
        self.parties = CloseParties(chain, contract, channels, counterparts)

    @property
    def active(self) -> bool:
        """Whether a close is under way or done: the proxy takes no new requests."""
        return self.intent or self.decision.closing

    @property
    def refusal(self) -> str | None:
        """Why the proxy takes no new requests (``None`` while no close is under way)."""
        if not self.active:
            return None
        return CLOSED_REFUSAL if self.decision.phase is Phase.CLOSED else REFUSAL

    def request(self) -> None:
        """The operator asks to close: persisted first, then the next step sends the close request."""
        if not self.intent:
            self.store.request_close()
            self.intent = True
            log.warning("closing the proxy contract %s: no new requests are taken", self.contract)
        if self.decision.phase is Phase.OPEN:
            self.decision = Decision(Phase.REQUESTING)

    async def check(self) -> bool:
        """Read the proxy contract; whether a close is under way (also one the owner started)."""
        if self.active:
            return True
        await self._read_proxy(with_time=False)  # the chain's clock matters only once closing
        if self.proxy is not None and self.proxy.state != 0:
            log.warning(
                "the proxy contract %s is closing (state %d): closing through",
                self.contract,
                self.proxy.state,
            )
            self.decision = Decision(Phase.SETTLING)
        return self.active

    async def step(self) -> Decision:
        """One round: read the chain, decide, send what is due; the decision is kept for :meth:`status`."""
        await self._read_proxy()
        proxy_state = self.proxy.state if self.proxy is not None else 0
        committed = all(c.committed_to_chain == c.tokens_max for _, c in self.channels.items())
        running = self.requests_running()
        parties: tuple[Party, ...] = ()
        if proxy_state == 1 and committed and not running:
            parties = await self.parties.read()
        view = CloseView(
            intent=self.intent,
            proxy_state=proxy_state,
            unlock_ts=self.proxy.unlock_ts if self.proxy is not None else 0,
            chain_now=self.chain_now,
            committed=committed,
            requests_running=running,
            parties=parties,
            sent=dict(self.sent),
            now=self.clock.monotonic(),
        )
        decision = decide(view)
        if decision.phase is not self.decision.phase:
            log.info("proxy close: %s -> %s", self.decision.phase, decision.phase)
        self.decision = decision
        await self._do(decision.actions)
        return decision

    async def _read_proxy(self, *, with_time: bool = True) -> None:
        state = await self.chain.get_account(self.contract)
        self.proxy = ProxyData.from_cell(state.data) if state.data is not None else None
        if with_time:
            self.chain_now = await self.chain.get_time()

    async def _do(self, actions: tuple[Action, ...]) -> None:
        messages: list[OutMessage] = []
        for action in actions:
            if isinstance(action, Commit):
                await self.commit()
            elif isinstance(action, SendFinal):
                messages.append(self._final(action))
            else:
                op = (
                    Op.EXT_PROXY_CLOSE_REQUEST_SIGNED
                    if isinstance(action, SendCloseRequest)
                    else Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED
                )
                messages.append(OutMessage(self.contract, CLOSE_VALUE, self._signed(op)))
            self.sent[action.key] = self.clock.monotonic()
        if messages:
            await self.sender.send_many(messages)
            self.messages_sent += len(messages)

    def _signed(self, op: int) -> Any:
        request = sign_request(
            self.secret_key,
            op,
            query_id=new_query_id(),
            target=self.contract,
            send_excesses_to=self.sender.address,
        )
        return request.to_cell()

    def _final(self, action: SendFinal) -> OutMessage:
        party = action.party
        kind = CLIENT_CHANNEL if party.is_client else WORKER_CHANNEL
        op = (
            Op.EXT_CLIENT_GRANT_REFUND_SIGNED if party.is_client else Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED
        )
        target = self.counterparts.target(kind, party.owner).address
        init = None
        if not party.deployed:  # a worker owed tokens whose contract was never deployed: deploy it now
            c = self.counterparts
            init = worker_state_init(Address.parse(party.owner), self.contract, c.public_key, c.chain_params)
        log.info(
            "proxy close: final %s for %s: %d tokens",
            "refund" if party.is_client else "payout",
            party.owner,
            action.tokens,
        )
        return OutMessage(target, FINAL_VALUE, self.signer.cell(kind, party.owner, action.tokens, op), init)

    def status(self) -> dict[str, Any]:
        """Where the close stands, for ``/jsonstats``, the close endpoint and `cocoon proxy close`."""
        d, p = self.decision, self.proxy
        return {
            "phase": str(d.phase),
            "requested": self.intent,
            "proxy_contract": self.contract.raw,
            "proxy_state": p.state if p is not None else None,
            "unlock_ts": p.unlock_ts if p is not None else None,
            "chain_now": self.chain_now,
            "seconds_left": d.seconds_left,
            "pending": [
                {
                    "kind": "client" if x.is_client else "worker",
                    "owner": x.owner,
                    "tokens": max(x.owed, x.on_chain),
                }
                for x in d.pending
            ],
            "balance_nano": p.balance if p is not None else None,
            "stake_nano": p.stake if p is not None else None,
            "messages_sent": self.messages_sent,
            "closed": d.phase is Phase.CLOSED or (p is not None and p.state == CLOSED_STATE),
        }
