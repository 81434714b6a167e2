"""Committing channel totals on chain: stamping changed channels and sending save-state notes.

A flush stamps every channel whose total changed under a new local seqno, in one database
transaction (:class:`~cocoon.proxy.commit_store.CommitStore`). A save-state note names a seqno;
once the note is seen in the proxy contract's transactions (:mod:`cocoon.proxy.chain_reader`), every
total stamped under that seqno or earlier is chain-committed and may be signed. The database is made
durable before a note leaves, so the seqno it names survives a power loss.
"""

from __future__ import annotations

from cocoon.payments.channel import Channel
from cocoon.payments.commit import CommitPipeline, Note
from cocoon.proxy.commit_store import ChannelKey, CommitStore
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.payment_signer import new_query_id
from cocoon.proxy.settler import SettlementCounters
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.wallet.sender import MessageSender


class Committer:
    """Stamps the settlement's channels under seqnos and sends the notes that commit them."""

    def __init__(
        self,
        pipeline: CommitPipeline,
        store: CommitStore,
        channels: dict[ChannelKey, Channel],
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
        values = {key: ch.tokens_max for key, ch in self.channels.items()}
        self.store.flush(note.seqno, values, note)
        for key, ch in self.channels.items():
            ch.stamp(note.seqno, values[key])
        await self._send(note)

    def flush(self) -> int | None:
        """Stamp every changed channel under a new seqno (one transaction); returns the seqno."""
        dirty = {key: ch.tokens_max for key, ch in self.channels.items() if ch.dirty}
        if not dirty:
            return None
        seqno = self.pipeline.next_seqno()
        self.store.flush(seqno, dirty)
        for key, value in dirty.items():
            self.channels[key].stamp(seqno, value)
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
