"""Our COCOON client against the reference proxy's client port (PoW difficulty 20, TLS, tcp.*).

The reference proxy runs behind its router, which does the PoW and TLS (with a plain self-signed
certificate) and forwards the frames to the proxy. The test asks ``client.connectToProxy`` and
expects ``client.connectedToProxy``. Skipped only when the reference binaries cannot run here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.identity import NodeIdentity
from cocoon.errors import ConnectionClosedError
from cocoon.net.cocoon_conn import CocoonConnection, connect_cocoon
from cocoon.tl.types import ClientConnectedToProxy, ClientConnectToProxy, ClientParams

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "cocoon-reference"
START = REFERENCE / "start.py"
PORT_OFFSETS = (0, 1, 2, 101, 102, 116)
READY_TIMEOUT = 30.0


def _free_base() -> int:
    """A base port whose offsets used by start.py are all free right now."""
    for _ in range(50):
        base = 20000 + int.from_bytes(os.urandom(2), "little") % 30000
        sockets = []
        try:
            for offset in PORT_OFFSETS:
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range for the reference proxy")


@pytest.fixture
def reference_proxy(tmp_path: Path) -> Iterator[dict[str, int]]:
    if not START.exists():
        pytest.skip(f"reference peer not found at {START}")
    for binary in ("proxy-runner", "router"):
        path = REFERENCE / "bin" / binary
        try:
            probe = subprocess.run([str(path), "--help"], capture_output=True, timeout=10, check=False)
        except OSError as exc:
            pytest.skip(f"reference binary {binary} cannot run here: {exc}")
        if probe.returncode in (126, 127) or b"error while loading shared libraries" in probe.stderr:
            pytest.skip(
                f"reference binary {binary} cannot run here: {probe.stderr.decode(errors='replace')[:200]}"
            )
    process = subprocess.Popen(
        [sys.executable, str(START), str(tmp_path / "run"), "--base", str(_free_base())],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, f"start.py printed nothing; see the logs in {tmp_path / 'run'}"
        ports = json.loads(line)
        assert "client_port" in ports, ports
        yield ports
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


async def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # polling a process we do not control for readiness
            continue
        writer.close()
        await writer.wait_closed()
        return


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


async def test_our_client_connects_to_the_reference_proxy(reference_proxy: dict[str, int]) -> None:
    owner = json.loads((REFERENCE / "config" / "client-config.json").read_text())["owner_address"]
    await _wait_listening(reference_proxy["client_port"])
    deadline = time.monotonic() + READY_TIMEOUT
    attempts = 0
    while True:
        attempts += 1
        try:
            conn, answer, handshake = await _connect_to_proxy(reference_proxy["client_port"], owner)
            break
        except ConnectionClosedError:
            # Until the proxy has read its state from the (fake) chain, about a second after it
            # starts, it drops client connections; the reference's own client retries too.
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
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
