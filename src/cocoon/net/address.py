"""Peer addresses as configs write them."""

from __future__ import annotations

from cocoon.errors import ConfigError


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:11001"`` -> ``("127.0.0.1", 11001)`` with a clear error otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not host:port (e.g. 127.0.0.1:11001)")
    return host.strip("[]"), int(port)
