"""Where a node's keys live, derived once for every role and for the local network.

- the node key ``<data_dir>/node.key``: a raw 32-byte Ed25519 seed (mode 0600) behind the node's
  RA-TLS identity; a restarted node keeps its identity, and a proxy signs its payments with it, so
  the key clients see attested is the one their payments verify against. Without a data dir the key
  is ephemeral.
- the wallet key ``wallet_key`` or ``<data_dir>/wallet.key`` (JSON, mode 0600, `cocoon wallet new`):
  the node wallet that pays for the node's messages on chain.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from cocoon.errors import ConfigError

NODE_KEY_FILE = "node.key"
WALLET_KEY_FILE = "wallet.key"


def load_or_create_key(data_dir: str) -> Ed25519PrivateKey:
    """The node's Ed25519 key from ``<data_dir>/node.key``, created (mode 0600) on first use."""
    if not data_dir:
        return Ed25519PrivateKey.generate()
    path = Path(data_dir).expanduser() / NODE_KEY_FILE
    if path.exists():
        seed = path.read_bytes()
        if len(seed) != 32:
            raise ConfigError(f"{path} is not a 32-byte Ed25519 seed; move it away to create a new key")
        return Ed25519PrivateKey.from_private_bytes(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(seed_of(key))
    return key


def seed_of(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte seed of an Ed25519 key (what contracts' signature checks are keyed by)."""
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def node_seed(data_dir: str) -> bytes:
    """The node key's seed; a node that signs on chain (the proxy) needs a data dir to keep it."""
    if not data_dir:
        raise ConfigError("a proxy settling on chain needs data_dir: its key fixes its proxy contract")
    return seed_of(load_or_create_key(data_dir))


def wallet_key_path(data_dir: str | Path, wallet_key: str = "") -> Path:
    """The node wallet's key file: ``wallet_key`` when set, else ``<data_dir>/wallet.key``."""
    if wallet_key:
        return Path(wallet_key).expanduser()
    return Path(data_dir or ".").expanduser() / WALLET_KEY_FILE
