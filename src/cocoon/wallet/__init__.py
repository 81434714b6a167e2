"""Node wallets: the service layer every runner uses to put messages on chain.

- ``sender``  :class:`MessageSender` (the protocol services depend on), :class:`OutMessage`,
  :class:`RecordingSender` (test double);
- ``keyfile`` :class:`WalletKey` and key files (mode 0600, ``cocoon wallet new``);
- ``node``    :class:`NodeWallet`: deploy on first use, batches of 4, resend until the seqno moves,
  ``ensure_funded`` (2.1 TON to start).
"""

from cocoon.wallet.keyfile import WalletKey, load_key_file, load_or_create_key_file, write_key_file
from cocoon.wallet.node import START_MINIMUM, NodeWallet, WalletTimings
from cocoon.wallet.sender import MessageSender, OutMessage, RecordingSender

__all__ = [
    "START_MINIMUM",
    "MessageSender",
    "NodeWallet",
    "OutMessage",
    "RecordingSender",
    "WalletKey",
    "WalletTimings",
    "load_key_file",
    "load_or_create_key_file",
    "write_key_file",
]
