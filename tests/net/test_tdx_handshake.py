"""The ``tdx`` policy in the real RA-TLS listener, with collateral from a PCCS (a fake serving the
real vector's collateral over Intel's v4 API, fetched by dcap-qvl) or from a collateral file.

The peer presents the real quote vector (dcap-tdx-quote.bin) in its certificate. A recorded quote
binds a key nobody here holds, so the admitting policy runs in `ReplayMode` (development only):
verified at a pinned time inside the collateral's window, key binding skipped; every other step is
the production one. The default policy (binding on) refuses the same peer: that is tested too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.dcap import Collateral
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import AnyPolicy, Policy
from cocoon.attestation.providers import FakeQuoteProvider, StaticQuoteProvider
from cocoon.attestation.tdx_policy import ReplayMode
from cocoon.net.listener import Listener
from cocoon.net.tls import AttestedStream, connect_attested
from cocoon.node.policy import make_policy, node_collateral
from fake_pccs import FakePccs
from waiting import wait_until

IN_WINDOW = int(datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC).timestamp())  # tcbInfo.issueDate + 1 h
DCAP_IMAGE = "b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752"
TD_ATTRIBUTES_OFFSET = 48 + 16 + 48 + 48 + 8  # header, tee_tcb_svn, mrseam, mrsignerseam, seam_attributes
WAIT = 10.0


@pytest.fixture
async def pccs(vectors) -> AsyncIterator[FakePccs]:
    async with FakePccs(vectors.text("dcap-tdx-quote-collateral.json")) as server:
        yield server


def identity(quote: bytes | None = None) -> NodeIdentity:
    provider = FakeQuoteProvider() if quote is None else StaticQuoteProvider(quote, "vector")
    return NodeIdentity.create(Ed25519PrivateKey.generate(), provider, os.urandom, time.time())


async def handshake(policy: Policy, peer_quote: bytes) -> tuple[AttestedPeer | None, Listener]:
    """One peer presenting ``peer_quote`` connects to a listener applying ``policy``."""
    admitted: list[AttestedPeer] = []

    async def handler(stream: AttestedStream) -> None:
        admitted.append(stream.peer)
        stream.write(b"ok")
        await stream.drain()

    async with Listener("127.0.0.1", 0, identity(), policy, handler, handshake_timeout=WAIT) as listener:
        client = await connect_attested(
            "127.0.0.1", listener.port, identity(peer_quote), AnyPolicy(), handshake_timeout=WAIT
        )
        async with asyncio.timeout(WAIT):
            answer = await client.read()
        await client.aclose()
        # The client sees the close before the listener counts the refusal: wait for the verdict.
        await wait_until(lambda: listener.accepted + listener.refused == 1, WAIT, what="a verdict")
    assert (answer == b"ok") == bool(admitted)
    return (admitted[0] if admitted else None), listener


def replaying(pccs_url: str, at: int, files: tuple[str, ...] = ()) -> Policy:
    return make_policy("tdx", collateral=node_collateral(pccs_url, files), replay=ReplayMode(at))


async def test_admitted_in_window_with_collateral_from_the_pccs(pccs: FakePccs, dcap_quote: bytes) -> None:
    policy = replaying(pccs.url, IN_WINDOW)
    peer, listener = await handshake(policy, dcap_quote)
    assert peer is not None and listener.accepted == 1
    assert peer.policy == "tdx" and peer.image_hash is not None and peer.image_hash.hex() == DCAP_IMAGE
    assert f"/tdx/certification/v4/tcb?fmspc={pccs.fmspc}&update=standard" in pccs.requests
    fetched = len(pccs.requests)
    again, _ = await handshake(policy, dcap_quote)  # collateral and verdict are kept: no new fetch
    assert again is not None and len(pccs.requests) == fetched


async def test_refused_after_the_collateral_expired(
    pccs: FakePccs, dcap_quote: bytes, dcap_collateral: Collateral, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cocoon.net.listener")
    peer, listener = await handshake(replaying(pccs.url, dcap_collateral.next_update + 60), dcap_quote)
    assert peer is None and listener.refused == 1
    assert pccs.requests, "the PCCS was asked for fresh collateral"
    assert "served DCAP collateral for FMSPC B0C06F000000 that expired" in caplog.text


async def test_debug_td_refused_before_its_signature(
    pccs: FakePccs, dcap_quote: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # Setting the DEBUG bit breaks the quote's signature; the policy refuses the TD from its attributes
    # first, so the reason is "debug TD" and not "forged", whatever the signature says.
    debug = bytearray(dcap_quote)
    debug[TD_ATTRIBUTES_OFFSET] |= 1
    caplog.set_level(logging.WARNING, logger="cocoon.net.listener")
    peer, listener = await handshake(replaying(pccs.url, IN_WINDOW), bytes(debug))
    assert peer is None and listener.refused == 1
    assert "peer is a debug TD" in caplog.text and "refused before verifying the quote" in caplog.text


async def test_key_binding_stays_on_by_default(
    pccs: FakePccs, dcap_quote: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cocoon.net.listener")
    strict = make_policy("tdx", collateral=node_collateral(pccs.url, ()), replay=ReplayMode(IN_WINDOW, False))
    peer, listener = await handshake(strict, dcap_quote)
    assert peer is None and listener.refused == 1
    assert "bound to a different key" in caplog.text


async def test_without_pccs_or_file_the_error_names_the_fmspc_and_the_settings(
    dcap_quote: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cocoon.net.listener")
    peer, listener = await handshake(replaying("", IN_WINDOW), dcap_quote)
    assert peer is None and listener.refused == 1
    assert "FMSPC B0C06F000000" in caplog.text
    assert "pccs_url" in caplog.text and "collateral_files" in caplog.text


async def test_admitted_with_a_collateral_file_and_no_pccs(dcap_quote: bytes, vectors) -> None:
    path: Path = vectors.path("dcap-tdx-quote-collateral.json")
    peer, _ = await handshake(replaying("", IN_WINDOW, (str(path),)), dcap_quote)
    assert peer is not None and peer.image_hash is not None and peer.image_hash.hex() == DCAP_IMAGE
