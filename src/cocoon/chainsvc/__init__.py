"""Asyncio shell around the TON layer: every stateful ``Chain`` backend, the chain server, the poll loop.

- :mod:`~cocoon.chainsvc.local`      ``LocalChain``/``AsyncLocalChain``: the local chain on the official
  emulator (pytvm), persisted to SQLite; stateful, so it lives here and not in the pure ``cocoon.ton``;
- :mod:`~cocoon.chainsvc.server`     ``create_app``: toncenter-style API over a ``LocalChain``;
- :mod:`~cocoon.chainsvc.service`    ``run_chain_service``: bind, announce readiness, serve until stopped;
- :mod:`~cocoon.chainsvc.toncenter`  ``ToncenterChain``: ``Chain`` over HTTP (ours or a real toncenter);
- :mod:`~cocoon.chainsvc.lite`       ``LiteChain``: ``Chain`` over liteservers (pytoniq), for production;
- :mod:`~cocoon.chainsvc.watch`      ``poll``: follow an account's transactions with a ``TxCursor``.
"""
