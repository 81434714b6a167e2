"""Committing channel totals on chain: stamping changed channels and sending save-state notes.

A flush stamps every channel whose total changed under a new local seqno, in one database
transaction (:class:`~.commit_store.CommitStore`). A save-state note names a seqno;
once the note is seen in the proxy contract's transactions (:mod:`.chain_reader`), every
total stamped under that seqno or earlier is chain-committed and may be signed. The database is made
durable before a note leaves, so the seqno it names survives a power loss.
"""

from __future__ import annotations

from cocoon.payments.commit import CommitPipeline, Note
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.settlement.channels import Channels
from cocoon.proxy.settlement.commit_store import CommitStore
from cocoon.proxy.settlement.counters import SettlementCounters
from cocoon.proxy.settlement.payment_signer import new_query_id
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.wallet.sender import MessageSender


class Committer:
    """Stamps the settlement's channels under seqnos and sends the notes that commit them."""

    def __init__(
        self,
        pipeline: CommitPipeline,
        store: CommitStore,
        channels: Channels,
        ledger: Ledger,
        sender: MessageSender,
        contract: Address,
        counters: SettlementCounters,
    ) -> None:
        self.pipeline, self.store, self.channels = pipeline, store, channels
        self.ledger, self.sender, self.contract = ledger, sender, contract
        self.counters = counters

    async def start(self, now: float) -> None:
        """Stamp every channel under the start note's seqno and send the note (a new session)."""
        note = self.pipeline.start(now)
        values = self.channels.totals()
        self.store.flush(note.seqno, values, note)
        self.channels.stamp(note.seqno, values)
        await self._send(note)

    def flush(self) -> int | None:
        """Stamp every changed channel under a new seqno (one transaction); returns the seqno."""
        changed = self.channels.changed()
        if not changed:
            return None
        seqno = self.pipeline.next_seqno()
        self.store.flush(seqno, changed)
        self.channels.stamp(seqno, changed)
        self.counters.flushes += 1
        return seqno

    async def send_note(self, note: Note) -> None:
        """Persist ``note`` as pending, then send it."""
        self.store.add_pending(note)
        await self._send(note)

    async def _send(self, note: Note) -> None:
        self.ledger.make_durable()  # the seqno the note names must outlive a power loss
        body = m.SaveState.make(new_query_id(), note.seqno, note.session_hash).to_cell()
        await self.sender.send(self.contract, 1, body, bounce=False)
        self.counters.notes_sent += 1
