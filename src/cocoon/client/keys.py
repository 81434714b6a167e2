"""The client daemon's API keys: a file of named keys, each stored as a SHA-256 of its secret.

File format (JSON, mode 0600; written by ``cocoon client keys add|revoke``)::

    {"kind": "cocoon-api-keys", "version": 1,
     "keys": [{"name": "app", "sha256": "<64 hex>", "daily_limit_nano": 2000000000 | null,
               "created": <unix seconds>, "revoked": false}]}

The secret (``sk-cocoon-...``) is shown once, when the key is made; only its hash is kept, so a copy
of the file does not let anyone spend. A revoked key stays in the file (its name is not reused, and
keys stay required): delete the file to go back to a daemon without keys.

Every write replaces the file in one rename, so a daemon reading it never sees half a file;
`KeyFile` is the daemon's view, re-read whenever the file's identity (inode, mtime, size) changes,
which the daemon looks at most once every `RECHECK_S` seconds: an edit counts within a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from cocoon.clock import Clock
from cocoon.errors import ConfigError

KIND = "cocoon-api-keys"
VERSION = 1
KEYS_FILE = "api_keys.json"
SECRET_PREFIX = "sk-cocoon-"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
RECHECK_S = 1.0
"""How often, at most, a daemon's `KeyFile` looks whether its file changed (once per request costs a
``stat`` system call on every request, for edits made a few times a day)."""


def new_secret() -> str:
    """A fresh API key secret (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The SHA-256 (hex) under which a secret is stored; secrets have 256 bits, so no salt is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key: its name, the hash of its secret and its spend limit per UTC day (None: no limit)."""

    name: str
    sha256: str
    daily_limit_nano: int | None = None
    created: float = 0.0
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class KeySet:
    """The keys of one file, revoked ones included."""

    keys: tuple[ApiKey, ...] = ()

    @property
    def active(self) -> tuple[ApiKey, ...]:
        return tuple(k for k in self.keys if not k.revoked)

    def find(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, if any."""
        digest = hash_secret(secret)
        return next((k for k in self.active if secrets.compare_digest(k.sha256, digest)), None)

    def named(self, name: str) -> ApiKey | None:
        return next((k for k in self.keys if k.name == name), None)

    def with_key(self, key: ApiKey) -> KeySet:
        if self.named(key.name) is not None:
            raise ConfigError(f"an API key named {key.name!r} exists already (revoked keys keep their name)")
        return KeySet((*self.keys, key))

    def revoked(self, name: str) -> KeySet:
        if self.named(name) is None:
            known = ", ".join(k.name for k in self.keys) or "none"
            raise ConfigError(f"no API key named {name!r} (keys: {known}); see `cocoon client keys list`")
        return KeySet(tuple(replace(k, revoked=True) if k.name == name else k for k in self.keys))

    def next_name(self) -> str:
        """The first free default name: key-1, key-2, ..."""
        n = 1
        while self.named(f"key-{n}") is not None:
            n += 1
        return f"key-{n}"


def keys_file_path(data_dir: str, api_keys_file: str) -> Path | None:
    """``api_keys_file`` when set, else ``<data_dir>/api_keys.json``; None when neither is set."""
    if api_keys_file:
        return Path(api_keys_file).expanduser()
    if data_dir:
        return Path(data_dir).expanduser() / KEYS_FILE
    return None


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"API key name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_keys(text: str, *, source: str) -> KeySet:
    """A key file's contents; a `ConfigError` naming ``source`` when it is not one."""
    try:
        obj = json.loads(text)
        if obj.get("kind") != KIND or obj.get("version") != VERSION:
            raise ValueError(f"expected kind {KIND!r} version {VERSION}")
        keys = []
        for entry in obj["keys"]:
            limit = entry.get("daily_limit_nano")
            key = ApiKey(
                name=check_name(str(entry["name"])),
                sha256=str(entry["sha256"]),
                daily_limit_nano=None if limit is None else int(limit),
                created=float(entry.get("created", 0.0)),
                revoked=bool(entry.get("revoked", False)),
            )
            if not re.fullmatch(r"[0-9a-f]{64}", key.sha256):
                raise ValueError(f"key {key.name!r}: sha256 is not 64 hex digits")
            keys.append(key)
    except (ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
        raise ConfigError(
            f"{source} is not a cocoon API key file ({exc}); fix it, or delete it and add keys again "
            "with `cocoon client keys add`"
        ) from exc
    return KeySet(tuple(keys))


def load_keys(path: Path) -> KeySet:
    """The keys in ``path`` (none if it does not exist); refuses a file others can read or write."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text()
    except FileNotFoundError:
        return KeySet()
    except OSError as exc:
        raise ConfigError(f"cannot read API key file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(f"API key file {path} is open to other users (mode {mode:o}); run chmod 600 {path}")
    return parse_keys(text, source=str(path))


def save_keys(path: Path, keys: KeySet) -> None:
    """Write ``keys`` to ``path`` (mode 0600) by renaming a complete temporary file over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"kind": KIND, "version": VERSION, "keys": [asdict(k) for k in keys.keys]}, indent=1)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.chmod(temporary, 0o600)  # O_CREAT's mode is filtered by the umask; make it exact
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def add_key(
    path: Path, *, name: str = "", daily_limit_nano: int | None = None, now: float
) -> tuple[ApiKey, str]:
    """Add a key to the file at ``path``: the stored key and its secret (shown once, never stored)."""
    if daily_limit_nano is not None and daily_limit_nano <= 0:
        raise ConfigError(f"a daily limit must be positive, got {daily_limit_nano} nanoTON")
    keys = load_keys(path)
    secret = new_secret()
    key = ApiKey(check_name(name or keys.next_name()), hash_secret(secret), daily_limit_nano, now)
    save_keys(path, keys.with_key(key))
    return key, secret


def revoke_key(path: Path, name: str) -> None:
    """Mark the key ``name`` revoked in the file at ``path`` (a running daemon refuses it within a
    second: `RECHECK_S`)."""
    save_keys(path, load_keys(path).revoked(name))


class KeyFile:
    """The daemon's view of a key file: `current` re-reads it only when the file changed.

    With a ``clock``, it looks whether the file changed (one ``stat``) at most once every `RECHECK_S`
    seconds of its monotonic time, so an added or revoked key counts within a second, with no watcher
    task and no signal to send the daemon. Without one, it looks at every call.
    """

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock
        self._signature: tuple[int, int, int] | None = None
        self._keys = KeySet()
        self._next_check: float | None = None
        """When the file is next looked at (``clock.monotonic``); None: at the next call."""

    def current(self) -> KeySet:
        """The keys now; a `ConfigError` if the file became unreadable or malformed."""
        if self.clock is not None:
            now = self.clock.monotonic()
            if self._next_check is not None and now < self._next_check:
                return self._keys
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._signature, self._keys = None, KeySet()
            self._checked()
            return self._keys
        except OSError as exc:
            raise ConfigError(f"cannot read API key file {self.path}: {exc.strerror}") from exc
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature != self._signature:
            self._keys = load_keys(self.path)
            self._signature = signature
        self._checked()
        return self._keys

    def _checked(self) -> None:
        if self.clock is not None:
            self._next_check = self.clock.monotonic() + RECHECK_S
