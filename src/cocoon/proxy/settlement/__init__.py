"""The proxy's settlement on chain: payment channels, commits, charges, payouts, payment updates.

The proxy service talks to one object, :class:`~.facade.ProxySettlement` (built at start by
:func:`~.start.open_settlement`); everything else here is its collaborators. The channel state is
owned by one :class:`~.channels.Channels`, handed to the collaborators that read or move it.

Module map (where is ...):

==================== ===================================================================================
``facade``           :class:`ProxySettlement`, what the service calls: the tick loop (read chain, flush,
                     note, settle), credit for the client book, client binding, payment status, stats
``start``            start-up from a ``ProxyConfig``: node bootstrap (key, chain, wallet, registry), then
                     the settlement started and ready (:func:`open_settlement`)
``channels``         the channel counters per (kind, owner): the only place they change
``commit_store``     the commit state in the ledger's SQLite file (stamps, seqno, cursor, pending notes)
``committer``        a flush stamps changed channels; **a save-state note is sent** here
``chain_reader``     **the chain is read** here: notes confirm seqnos (or a rollback is detected),
                     client and worker contracts report their state
``counterparts``     what the proxy knows of each client and worker contract (address, total on chain)
``payment_signer``   **a payment is signed** here: charges, payouts, refund grants for cumulative totals
``settler``          charges sent to clients, payouts to workers, refund grants, commission withdrawals
``contract``         the proxy contract deployed and staked at start
``clients``          client binding: a client id to the client contract whose secret it knows
``updates``          **payment updates are pushed** to connected workers and clients, retried on failure
``counters``         what was sent (notes, charges, payouts, updates, failures), for ``/jsonstats``
==================== ===================================================================================

Call depth from the service: ``service -> facade -> committer / chain_reader / settler -> commit_store``
(the settler through ``counterparts`` and ``payment_signer``).
"""

from cocoon.proxy.settlement.facade import ProxySettlement, SettlementConfig
from cocoon.proxy.settlement.start import open_settlement

__all__ = ["ProxySettlement", "SettlementConfig", "open_settlement"]
