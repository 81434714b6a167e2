"""The local TON chain: real transactions on the official emulator (pytvm), persisted to SQLite.

A stateful ``Chain`` backend, so it lives in the shell beside the network adapters (not in the pure
``cocoon.ton``): :mod:`.store` (SQLite, a file lock against a second writer), :mod:`.emulator`
(libemulator via pytvm), :mod:`.chain` (``LocalChain``, synchronous), :mod:`.aio`
(``AsyncLocalChain``: the async ``Chain`` protocol over it), :mod:`.netconfig` (its network config).
"""

from cocoon.chainsvc.local.aio import AsyncLocalChain
from cocoon.chainsvc.local.chain import FAUCET, LocalChain
from cocoon.chainsvc.local.netconfig import default_config

__all__ = ["FAUCET", "AsyncLocalChain", "LocalChain", "default_config"]
