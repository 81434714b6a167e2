"""Our COCOON client against the reference proxy's client port (PoW difficulty 20, TLS, tcp.*).

The reference proxy runs behind its router, which does the PoW and TLS (with a plain self-signed
certificate) and forwards the frames to the proxy. The test asks ``client.connectToProxy`` and
expects ``client.connectedToProxy``. Skipped only when the reference binaries cannot run here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from reference_runner import (
    ReferenceProcesses,
    connect_when_ready,
    reference_config,
    reference_processes,
    skip_unless_runnable,
)

from cocoon.attestation.identity import NodeIdentity
from cocoon.net.cocoon_conn import CocoonConnection, connect_cocoon
from cocoon.tl.types import ClientConnectedToProxy, ClientConnectToProxy, ClientParams


@pytest.fixture
def reference_proxy(tmp_path: Path) -> Iterator[ReferenceProcesses]:
    skip_unless_runnable("proxy-runner", "router")
    with reference_processes(tmp_path / "run") as reference:
        yield reference


async def _connect_to_proxy(port: int, owner: str) -> tuple[CocoonConnection, ClientConnectedToProxy, float]:
    """Handshake and ``client.connectToProxy``; returns the connection, the answer, the handshake time."""
    identity = NodeIdentity.create(Ed25519PrivateKey.generate(), None, os.urandom, time.time())
    started = time.monotonic()
    conn = await connect_cocoon("127.0.0.1", port, identity, pow_timeout=60)
    handshake = time.monotonic() - started
    params = ClientParams(client_owner_address=owner, is_test=True, min_proto_version=1, max_proto_version=4)
    try:
        answer = await conn.query(ClientConnectToProxy(params=params, min_config_version=0), timeout=30)
    except BaseException:
        await conn.aclose()
        raise
    assert isinstance(answer, ClientConnectedToProxy), answer
    return conn, answer, handshake


async def test_our_client_connects_to_the_reference_proxy(reference_proxy: ReferenceProcesses) -> None:
    owner = reference_config("client-config.json")["owner_address"]
    connected = await connect_when_ready(lambda: _connect_to_proxy(reference_proxy.client_port, owner))
    (conn, answer, handshake), attempts = connected
    try:
        assert len(answer.params.proxy_public_key) == 32
        assert answer.params.proxy_owner_address and answer.client_sc_address
        assert answer.params.is_test is True
        assert conn.handshake is not None and conn.handshake.difficulty == 20
        assert conn.peer is not None and conn.peer.quote is None  # the router presents a plain certificate
        print(
            f"reference proxy (attempt {attempts}): PoW difficulty 20 solved in "
            f"{conn.handshake.pow_seconds:.2f} s; handshake {handshake:.2f} s in total, of which TLS and "
            f"tcp.connect {handshake - conn.handshake.pow_seconds:.3f} s"
        )
    finally:
        await conn.aclose()
