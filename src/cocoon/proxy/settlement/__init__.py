"""The proxy's settlement on chain: payment channels, commits, charges, payouts, payment updates.

The proxy service talks to one object, :class:`~.facade.ProxySettlement`, built at start by
:func:`~.start.open_settlement`; the other modules are its collaborators. The channel counters are
owned by one :class:`~.channels.Channels`, handed to the collaborators that read or move them.

Module map (where is ...):

==================== ===================================================================================
``facade``           :class:`ProxySettlement`, all the service calls: the tick loop (read the chain,
                     flush, note, settle), credit for the client book, client binding, status, stats
``start``            start-up on the node's chain (:func:`cocoon.node.chain.open_node_chain`): the
                     settlement built from a ``ProxyConfig``, started and ready (:func:`open_settlement`);
                     earlier contracts' closes carried on at a restart (``resume_closes``)
``channels``         the channel counters per (kind, owner): the only place they change
``commit_store``     the commit state in the ledger's SQLite file (stamps, seqno, cursor, pending notes),
                     kept per proxy contract (a params change moves the proxy to a new one)
``committer``        a flush stamps changed channels; **a save-state note is sent** here
``chain_reader``     **the chain is read** here: notes confirm seqnos (or reveal a rollback); client and
                     worker contracts report their state
``counterparts``     what the proxy knows of each client and worker contract (address, total on chain)
``payment_signer``   **a payment is signed** here: charges, payouts, refund grants of cumulative totals
``settler``          **charges and payouts are sent** here, refund grants, commission withdrawals
``contract``         the proxy contract, deployed and staked at start
``clients``          a client id bound to the client contract whose secret it knows; its credit, status
``updates``          **payment updates are pushed** to connected workers and clients (retried on failure)
``counters``         what was sent (notes, charges, payouts, updates, failed updates), for ``/jsonstats``
``closer``           **the proxy contract is closed** here: refunds, last payouts, the delay, close complete
                     (its decisions: :mod:`cocoon.proxy.closing`)
``close_parties``    every client and worker contract of the proxy, read for its close
==================== ===================================================================================

Calls from the service go one floor down, into the façade, which calls the collaborator that does
the work: ``run -> tick -> Committer.flush -> CommitStore.flush``; ``tick -> ChainReader.read``;
``tick -> Settler.settle -> PaymentSigner / Counterparts``.
"""

from cocoon.proxy.settlement.facade import ProxySettlement, SettlementConfig
from cocoon.proxy.settlement.start import open_settlement

__all__ = ["ProxySettlement", "SettlementConfig", "open_settlement"]
