"""What the `cocoon attest` commands read from their arguments: files and ``--at`` times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ConfigError


def read_file(path: Path) -> bytes:
    """The bytes of ``path``; `ConfigError` says why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def parse_time(text: str | None, clock: Clock = SYSTEM_CLOCK) -> int:
    """``--at``: Unix seconds or ISO-8601 (``2025-06-19T11:16:03Z``); default: now on ``clock``."""
    if text is None:
        return int(clock.time())
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--at {text!r}: use Unix seconds or ISO-8601 like 2025-06-19T11:16:03Z") from exc
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
