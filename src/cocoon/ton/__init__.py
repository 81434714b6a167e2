"""TON layer of the pure core: cells and messages of our contracts, the ``Chain`` interface, artifacts.

Modules (import what you need):

- ``address``   ``Address``: a frozen, typed internal address (raw and user-friendly forms);
- ``cells``     typed helpers over pytoniq-core: BoC, hashes, state-init, internal/external messages;
- ``codec``     declarative layouts (frozen dataclasses with ``Annotated`` field kinds);
- ``params``    the shared params cell (struct version 3) and its code masks;
- ``data``      contracts' data cells (root, proxy, worker, client, wallet) and their state-inits;
- ``artifacts`` compiled code of our contracts (BoCs shipped in the package) and their hashes;
- ``ops``       opcodes, exit codes, money constants;
- ``messages``  one struct per message body; ``signed`` proxy-signed requests; ``wallet`` externals;
- ``parse``     inbound body -> typed struct (for transaction watchers);
- ``chain``     the async ``Chain`` protocol and its data types (accounts, transactions, stack);
- ``tlb``       transactions / shard accounts / TVM stacks from BoCs (shared by every backend);
- ``watch``     ``TxCursor``: which transactions of an account are new, page by page, exactly once;
- ``toncenter`` the toncenter v2 JSON shapes (sans-IO), used by our server and the HTTP adapter;
- ``lite``      liteserver answers (pytoniq objects) -> our structs.
- ``reference`` the public COCOON network's contract layouts (root params v0..5, client contract).

Every stateful backend lives in the shell, :mod:`cocoon.chainsvc`: the local chain (``LocalChain`` on
the official emulator, persisted to SQLite), the asyncio adapters (``ToncenterChain``, ``LiteChain``),
the ``cocoon chain serve`` server and the ``poll`` loop over a ``TxCursor``. The pure core opens no
sockets, files of state or clocks.
"""

from cocoon.ton.address import Address

__all__ = ["Address"]
