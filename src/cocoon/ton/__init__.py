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
- ``tlb``       transactions / shard accounts / TVM stacks from BoCs (shared by every backend);
- ``watch``     ``TxCursor`` and ``poll``: follow an account's transactions exactly once;
- ``local``     ``LocalChain``: real transactions on the official emulator (pytvm), persisted;
- ``toncenter`` the toncenter v2 JSON shapes (sans-IO), used by our server and the HTTP adapter;
- ``lite``      liteserver answers (pytoniq objects) -> our structs.

The asyncio adapters (``ToncenterChain``, ``LiteChain``) and the ``cocoon chain serve`` server live in
``cocoon.chainsvc``: the pure core opens no sockets.
"""

from cocoon.ton.address import Address

__all__ = ["Address"]
