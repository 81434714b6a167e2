"""Asyncio shell around the TON layer: the local chain's HTTP server and the network Chain adapters.

- :mod:`~cocoon.chainsvc.server`     ``create_app``: toncenter-style API over a ``LocalChain``;
- :mod:`~cocoon.chainsvc.service`    ``run_chain_service``: bind, announce readiness, serve until stopped;
- :mod:`~cocoon.chainsvc.toncenter`  ``ToncenterChain``: ``Chain`` over HTTP (ours or a real toncenter);
- :mod:`~cocoon.chainsvc.lite`       ``LiteChain``: ``Chain`` over liteservers (pytoniq), for production.
"""
