"""Reading the proxy contract's transactions into the settlement's state.

Three kinds of incoming message matter:

* save-state notes from the proxy's own wallet confirm seqnos: the channels stamped under a seqno
  become chain-committed; a note the database never issued raises :class:`StateRollbackError`;
* ``client_proxy_request`` / ``worker_proxy_request`` (sent by every client and worker op, also as
  1-nanoTON notes whose compute phase is skipped, so the sender is checked here by recomputing its
  contract address) update what the proxy knows of each client and worker contract;
* a client's ``register#a35cb580 nonce`` note (``owner_client_register``) is also handed to
  :attr:`ChainReader.on_client_register`: the long authorization of a COCOON client waits for it.

The cursor is persisted together with the seqnos seen, so a restart resumes where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cocoon.chainsvc.watch import poll
from cocoon.errors import CocoonError
from cocoon.payments.commit import CommitPipeline, Note
from cocoon.payments.credit import client_view
from cocoon.proxy.ledger import WORKER_CHANNEL
from cocoon.proxy.settlement.channels import Channels
from cocoon.proxy.settlement.commit_store import CommitStore
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.ton import messages as m
from cocoon.ton.chain import Chain, Transaction
from cocoon.ton.watch import TxCursor
from cocoon.wallet.sender import MessageSender

log = logging.getLogger(__name__)


class ChainReader:
    """Applies the proxy contract's new transactions to the pipeline, channels and counterparts."""

    def __init__(
        self,
        chain: Chain,
        cursor: TxCursor,
        store: CommitStore,
        pipeline: CommitPipeline,
        channels: Channels,
        counterparts: Counterparts,
        sender: MessageSender,
    ) -> None:
        self.chain, self.cursor, self.store = chain, cursor, store
        self.pipeline, self.channels, self.counterparts = pipeline, channels, counterparts
        self.sender = sender  # its address is the only one whose save-state notes count
        self.on_client_register: Callable[[str, int], None] | None = None
        """Called with (owner, nonce) for each register note of a client contract of this proxy."""

    async def read(self) -> None:
        """Process the new transactions and persist the cursor with the notes seen.

        Raises :class:`StateRollbackError` (nothing persisted) on a note the database never issued.
        """
        txs = await poll(self.chain, self.cursor)
        seen: list[int] = []
        for tx in txs:
            seqno = self._on_transaction(tx)
            if seqno is not None:
                seen.append(seqno)
        if txs:
            self.store.observed(self.cursor.last_lt, seen)

    def _on_transaction(self, tx: Transaction) -> int | None:
        msg = tx.in_msg
        if msg is None or msg.src is None or msg.external:
            return None
        body = msg.parsed
        if isinstance(body, m.SaveState) and msg.src == self.sender.address:
            seqno = self.pipeline.observe(Note(body.seqno, body.session_hash))
            if seqno is not None:
                self.channels.commit_chain(seqno)
            return seqno
        if isinstance(body, m.ClientProxyRequest) and body.owner is not None:
            if msg.src == self.counterparts.client_contract(body.owner):
                snap = body.client
                view = client_view(snap)
                self.counterparts.update_client(body.owner.raw, view)
                self._client_payload(body)
        elif (
            isinstance(body, m.WorkerProxyRequest)
            and body.owner is not None
            and msg.src == self.counterparts.worker_contract(body.owner)
        ):
            self.counterparts.update_worker(WORKER_CHANNEL, body.owner.raw, body.tokens)
        return None

    def _client_payload(self, body: m.ClientProxyRequest) -> None:
        """Hand a register note's nonce to :attr:`on_client_register` (other payloads need nothing)."""
        if self.on_client_register is None or body.payload is None or body.owner is None:
            return
        try:
            payload = m.payload_of(body)
        except CocoonError as exc:  # a payload this proxy does not know: nothing to wait for
            log.warning("client %s: unreadable payload in its note: %s", body.owner.raw, exc)
            return
        if isinstance(payload, m.ClientRegisterPayload):
            self.on_client_register(body.owner.raw, payload.nonce)
