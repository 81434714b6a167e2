"""Wallet key files: the Ed25519 seed of a node wallet, its subwallet id and owner, mode 0600.

Format (JSON, one object; written by ``cocoon wallet new``)::

    {"kind": "cocoon-wallet", "version": 1, "secret_key": "<64 hex>", "subwallet": 0,
     "owner": "0:<64 hex>" | null}

The wallet's address is derived from (our wallet code, public key, subwallet, owner), so the file holds
everything needed to find and drive the wallet. The owner can control the wallet by internal
messages (withdraw everything, block, unblock); ``null`` means nobody can.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cocoon.errors import ConfigError
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell
from cocoon.ton.data import address_of, wallet_state_init
from cocoon.ton.signed import public_key_of

KIND = "cocoon-wallet"
VERSION = 1


@dataclass(frozen=True)
class WalletKey:
    """A node wallet's secret and the parameters that fix its address."""

    secret_key: bytes
    subwallet: int = 0
    owner: Address | None = None

    def __post_init__(self) -> None:
        if len(self.secret_key) != 32:
            raise ConfigError(f"a wallet secret key is a 32-byte Ed25519 seed, got {len(self.secret_key)}")
        if not 0 <= self.subwallet < 2**32:
            raise ConfigError(f"subwallet must fit 32 bits, got {self.subwallet}")

    @classmethod
    def generate(cls, *, subwallet: int = 0, owner: Address | None = None) -> WalletKey:
        """A fresh random key."""
        return cls(secrets.token_bytes(32), subwallet, owner)

    @property
    def public_key(self) -> int:
        return int.from_bytes(public_key_of(self.secret_key), "big")

    @property
    def state_init(self) -> tuple[Cell, Cell]:
        """(code, data) of this wallet as first deployed (seqno 0)."""
        return wallet_state_init(contract_code("wallet"), self.public_key, self.owner, self.subwallet)

    @property
    def address(self) -> Address:
        return address_of(self.state_init)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": KIND,
                "version": VERSION,
                "secret_key": self.secret_key.hex(),
                "subwallet": self.subwallet,
                "owner": self.owner.raw if self.owner else None,
            }
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = "wallet key") -> WalletKey:
        try:
            obj = json.loads(text)
            if obj.get("kind") != KIND or obj.get("version") != VERSION:
                raise ValueError(f"expected kind {KIND!r} version {VERSION}")
            owner = Address.parse(obj["owner"]) if obj.get("owner") else None
            return cls(bytes.fromhex(obj["secret_key"]), int(obj.get("subwallet", 0)), owner)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{source} is not a cocoon wallet key file ({exc}); create one with `cocoon wallet new`"
            ) from exc


def write_key_file(path: Path, key: WalletKey, *, overwrite: bool = False) -> None:
    """Write ``key`` to ``path`` with mode 0600 (created so; never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise ConfigError(
            f"{path} already exists; it may hold a funded wallet: pick another path or delete it first"
        ) from exc
    with os.fdopen(fd, "w") as f:
        f.write(key.to_json() + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode is filtered by the umask; make it exact


def load_key_file(path: Path) -> WalletKey:
    """Read a key file; refuses one that others can read (a wallet key is money)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"wallet key file {path} does not exist; create it with `cocoon wallet new`"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read wallet key file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(
            f"wallet key file {path} is readable by others (mode {mode:o}); run chmod 600 {path}"
        )
    return WalletKey.from_json(text, source=str(path))


def load_or_create_key_file(path: Path, *, owner: Address | None = None) -> WalletKey:
    """The key in ``path``, or a new one written there if the file does not exist yet."""
    if path.exists():
        return load_key_file(path)
    key = WalletKey.generate(owner=owner)
    write_key_file(path, key)
    return key
