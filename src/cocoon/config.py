"""Configuration of every role: a TOML file, overridden by ``COCOON_*`` environment variables, overridden
by command-line flags (DESIGN.md, Configuration).

Each role's configuration is a frozen msgspec Struct with defaults; unknown keys are an error, not
ignored, and every error names the key and the source it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from cocoon.errors import ConfigError

T = TypeVar("T", bound=msgspec.Struct)

ENV_PREFIX = "COCOON_"


def load_config(
    cls: type[T],
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Build a `cls` from defaults < TOML file < environment < explicit overrides (None values skipped).

    Environment variables are ``COCOON_<FIELD>`` in upper case (e.g. ``COCOON_ENGINE_URL``); their text is
    decoded as TOML when it parses as a TOML value (numbers, booleans, arrays), else taken as a string.
    """
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    data: dict[str, Any] = {}
    if path is not None:
        data.update(_read_toml(path))
    for name in fields:
        raw = (env if env is not None else os.environ).get(ENV_PREFIX + name.upper())
        if raw is not None:
            data[name] = _parse_env_value(raw)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in {path}" if path else ""
        raise ConfigError(
            f"unknown configuration key(s){where}: {', '.join(unknown)}; "
            f"valid keys are: {', '.join(sorted(fields))}"
        )
    try:
        return msgspec.convert(data, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration{' in ' + str(path) if path else ''}: {exc}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"configuration file {path} does not exist; create one with `cocoon init <role>`"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def to_toml(config: msgspec.Struct) -> str:
    """Render a config as TOML (for `cocoon init` and for handing configs to child processes)."""
    lines = []
    for key, value in msgspec.to_builtins(config).items():
        if value is None:
            continue
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """One value in TOML syntax (strings, numbers, booleans, arrays and inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ "
            + ", ".join(f"{msgspec.json.encode(k).decode()} = {toml_value(v)}" for k, v in value.items())
            + " }"
        )
    raise ConfigError(f"cannot render {value!r} as TOML")
