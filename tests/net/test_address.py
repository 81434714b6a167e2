"""Peer addresses: which IP literals are loopback (`is_loopback_ip`, what the client daemon's listener
check and the worker's engine check both ask)."""

from __future__ import annotations

import pytest

from cocoon.net.address import is_loopback_ip


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.3.4", True),
        ("::1", True),
        ("::1%lo", True),
        ("::ffff:127.0.0.1%lo", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:127.0.0.9", True),
        ("128.0.0.1", False),
        ("10.0.0.5", False),
        ("8.8.8.8", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.5", False),
        ("2001:db8::1", False),
        ("[::1]", None),  # still in its URL brackets: not a literal (callers strip them)
        ("localhost", None),  # a name: whether it counts is the caller's rule
        ("engine.internal", None),
        ("", None),
        ("127.0.0.1%lo", None),  # IPv4 has no scope ids
    ],
)
def test_loopback_addresses(address: str, loopback: bool | None) -> None:
    assert is_loopback_ip(address) is loopback
