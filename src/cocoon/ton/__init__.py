"""TON layer of the pure core: cells and messages of our contracts, the ``Chain`` interface, backends.

Modules (import what you need; nothing here loads the emulator until ``cocoon.ton.local`` is imported):

- ``address``   ``Address``: a frozen, typed internal address (raw and user-friendly forms);
- ``cells``     typed helpers over pytoniq-core: BoC, hashes, state-init, internal/external messages;
- ``codec``     declarative layouts (frozen dataclasses with ``Annotated`` field kinds);
- ``params``    the shared params cell (struct version 3) and its code masks;
- ``data``      contracts' data cells (root, proxy, worker, client, wallet) and their state-inits;
- ``ops``       opcodes, exit codes, money constants;
- ``messages``  one struct per message body; ``signed`` proxy-signed requests; ``wallet`` externals;
- ``parse``     inbound body -> typed struct (for transaction watchers);
- ``chain``     the async ``Chain`` protocol and its data types (accounts, transactions, stack);
- ``local``     ``LocalChain``: real transactions on the official emulator (pytvm), persisted;
- ``toncenter`` HTTP adapter for a toncenter-style API (ours from ``cocoon chain serve`` or a real one);
- ``lite``      liteserver adapter (pytoniq) for production.
"""

from cocoon.ton.address import Address

__all__ = ["Address"]
