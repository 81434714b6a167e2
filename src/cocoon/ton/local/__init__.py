"""The local TON chain: real transactions on the official emulator (pytvm), persisted to SQLite."""

from cocoon.ton.local.aio import AsyncLocalChain
from cocoon.ton.local.chain import FAUCET, LocalChain
from cocoon.ton.local.netconfig import default_config
from cocoon.ton.tlb import method_id

__all__ = ["FAUCET", "AsyncLocalChain", "LocalChain", "default_config", "method_id"]
