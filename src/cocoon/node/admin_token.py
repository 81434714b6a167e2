"""The admin token: the bearer secret a node's state-changing admin endpoints ask for.

Charging clients, paying workers, cashing out, closing contracts and topping them up move money or
stop a node, so the HTTP endpoints doing it (``POST /request/charge``, ``/request/payout``,
``/request/close`` on a proxy, ``POST /payout`` on a worker, ``POST /payments/...`` on a client daemon)
answer only a caller presenting the node's admin token. It is made at ``cocoon init --data-dir`` or at
the node's first start, kept in ``<data_dir>/admin.token`` (mode 0600, the owner alone reads it), and
read from there by the CLI commands calling those endpoints. A node without a data dir has no token
file, and so refuses every admin request (saying why).
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cocoon.errors import ConfigError

ADMIN_TOKEN_FILE = "admin.token"
ADMIN_TOKEN_HEADER = "X-Cocoon-Admin-Token"
"""Where a caller may put the token when ``Authorization`` already carries something else (the client
daemon's API key); ``Authorization: Bearer <token>`` works everywhere else."""

_TOKEN_BYTES = 32


def admin_token_path(data_dir: str | Path) -> Path | None:
    """``<data_dir>/admin.token``; None without a data dir (no token file then)."""
    if not str(data_dir):
        return None
    return Path(data_dir).expanduser() / ADMIN_TOKEN_FILE


def read_admin_token(path: Path) -> str:
    """The token in ``path``; a `ConfigError` when it is unreadable, empty, or readable by others."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the admin token {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the admin token {path} is readable by other users (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}`, or delete it to have a new one made at the next start"
        )
    if not text:
        raise ConfigError(f"the admin token {path} is empty: delete it to have a new one made")
    return text


def load_or_create_admin_token(data_dir: str | Path) -> tuple[str, Path] | None:
    """The node's admin token and its file, made (mode 0600) when missing; None without a data dir."""
    path = admin_token_path(data_dir)
    if path is None:
        return None
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        except OSError as exc:
            raise ConfigError(f"cannot create the admin token {path}: {exc}") from exc
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_urlsafe(_TOKEN_BYTES) + "\n")
    return read_admin_token(path), path


@dataclass(frozen=True)
class AdminToken:
    """What a node compares presented tokens with: its token and file (both None without a data dir)."""

    token: str | None
    path: Path | None

    @classmethod
    def of_data_dir(cls, data_dir: str | Path) -> AdminToken:
        """The node's token, made on first use; without a data dir, one that admits nobody."""
        found = load_or_create_admin_token(data_dir)
        return cls(*found) if found is not None else cls(None, None)

    def refusal(self, presented: list[str]) -> str | None:
        """None when one of the ``presented`` secrets is the token (compared in constant time), else why
        the request is refused, saying where the token is."""
        if self.token is None:
            return (
                "this node runs without data_dir, so it has no admin token and accepts no admin request; "
                "set data_dir (its admin token is then <data_dir>/admin.token)"
            )
        expected = self.token.encode()
        # Every candidate is compared (no early exit), each in constant time.
        matched = False
        for secret in presented:
            matched |= hmac.compare_digest(secret.encode(), expected)
        if matched:
            return None
        what = "a wrong admin token" if presented else "no admin token"
        return (
            f"{what}: send 'Authorization: Bearer <token>' (or {ADMIN_TOKEN_HEADER}) with the token in "
            f"{self.path} (the CLI reads it with --data-dir, or takes --admin-token)"
        )
