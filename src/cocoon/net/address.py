"""Peer addresses as configs write them."""

from __future__ import annotations

import ipaddress

from cocoon.errors import ConfigError


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:11001"`` -> ``("127.0.0.1", 11001)`` with a clear error otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not host:port (e.g. 127.0.0.1:11001)")
    return host.strip("[]"), int(port)


def is_loopback_ip(address: str) -> bool | None:
    """Whether an IP literal is loopback: 127.0.0.0/8 or ``::1``, also written as the IPv4-mapped
    ``::ffff:127.x.y.z``. None when ``address`` is not an IP literal: a host name (``localhost``
    included: what a name means is the caller's rule), ``""``, or a literal still in its URL brackets
    (``[::1]``). An IPv6 scope id (``::1%lo``) is ignored; one on an IPv4 address (``127.0.0.1%lo``)
    makes it no literal."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
