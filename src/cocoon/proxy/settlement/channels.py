"""The proxy's payment channels, one per counterpart: the single owner of their counters.

A channel (:class:`cocoon.payments.channel.Channel`) holds three cumulative token totals for one client
or worker owner. :class:`Channels` is the only place they change; every collaborator of the settlement
is handed this object and uses the few operations it needs:

- requests count tokens (:meth:`Channels.add`, the façade's ``on_recorded``);
- a flush takes :meth:`Channels.changed` (totals that moved since their last stamp), persists them and
  records them with :meth:`Channels.stamp` (:mod:`.committer`);
- a save-state note seen on chain makes the stamped totals chain-committed (:meth:`Channels.commit_chain`,
  :mod:`.chain_reader`);
- the settle actions read :meth:`Channels.counters` (:mod:`.settler`); nobody else gets a
  :class:`~cocoon.payments.channel.Channel` to mutate.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from cocoon.payments.channel import ZERO, Channel, Counters
from cocoon.payments.params import Tokens

ChannelKey = tuple[str, str]
"""(kind, owner address): kind is ``ledger.CLIENT_CHANNEL`` or ``ledger.WORKER_CHANNEL``."""


class Channels:
    """Every payment channel of one proxy contract, keyed by (kind, owner)."""

    def __init__(self) -> None:
        self._channels: dict[ChannelKey, Channel] = {}

    @classmethod
    def restored(cls, totals: Mapping[ChannelKey, int]) -> Channels:
        """Channels loaded from the database: each counter equals its stored running total (the start
        note, once seen on chain, confirms those values)."""
        channels = cls()
        channels._channels = {key: Channel.restored(Tokens(tokens)) for key, tokens in totals.items()}
        return channels

    def __len__(self) -> int:
        return len(self._channels)

    def __contains__(self, key: object) -> bool:
        return key in self._channels

    def all_keys(self) -> list[ChannelKey]:
        """Every channel's key, copied: a caller may await between items while channels are added."""
        return list(self._channels)

    def items(self) -> Iterator[tuple[ChannelKey, Counters]]:
        """Each channel's key and its counters now."""
        for key, channel in self._channels.items():
            yield key, channel.counters

    def counters(self, kind: str, owner: str) -> Counters:
        """The counters of channel ``(kind, owner)``; zeros for a channel that does not exist (none made)."""
        channel = self._channels.get((kind, owner))
        return channel.counters if channel is not None else ZERO

    def open(self, kind: str, owner: str) -> None:
        """Make sure channel ``(kind, owner)`` exists (a client closing before any request gets one)."""
        self._channels.setdefault((kind, owner), Channel())

    def add(self, kind: str, owner: str, tokens: Tokens) -> Counters:
        """Count ``tokens`` more adjusted tokens on channel ``(kind, owner)``, made on first use."""
        return self._channels.setdefault((kind, owner), Channel()).add(tokens)

    def totals(self) -> dict[ChannelKey, Tokens]:
        """Every channel's running total (``tokens_max``)."""
        return {key: channel.tokens_max for key, channel in self._channels.items()}

    def changed(self) -> dict[ChannelKey, Tokens]:
        """The running totals that moved since their channel's last stamp (what a flush writes)."""
        return {key: ch.tokens_max for key, ch in self._channels.items() if ch.dirty}

    def stamp(self, seqno: int, values: Mapping[ChannelKey, Tokens]) -> None:
        """``values`` were persisted under local ``seqno``: they become the channels' ``committed_to_db``."""
        for key, value in values.items():
            self._channels[key].stamp(seqno, value)

    def commit_chain(self, seqno: int) -> None:
        """The note of ``seqno`` is on chain: every value stamped at or before it is chain-committed."""
        for channel in self._channels.values():
            channel.commit_chain(seqno)
