"""A proxy built from its config with ``worker_policy = "tdx"``: its settings ``pccs_url`` and
``collateral_files`` reach the worker listener's handshakes (the real clock: the vector's collateral
has expired, so the vector is refused, saying why)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import AnyPolicy
from cocoon.attestation.providers import StaticQuoteProvider
from cocoon.errors import ConfigError
from cocoon.net.tls import connect_attested
from cocoon.proxy.build import build_proxy
from cocoon.roles import ProxyConfig
from fake_pccs import FakePccs
from waiting import wait_until


def config(tmp_path: Path, **settings: object) -> ProxyConfig:
    return ProxyConfig(
        worker_port=0,
        client_port=0,
        cocoon_port=-1,
        http_port=0,
        data_dir=str(tmp_path),
        worker_policy="tdx",
        **settings,  # type: ignore[arg-type]
    )


async def present_vector(proxy_config: ProxyConfig, quote: bytes) -> int:
    """A worker presenting the vector connects; returns how many workers the proxy refused."""
    async with build_proxy(proxy_config) as running:
        listener = running.service.worker_listener
        worker = NodeIdentity.create(
            Ed25519PrivateKey.generate(), StaticQuoteProvider(quote, "vector"), os.urandom, time.time()
        )
        stream = await connect_attested("127.0.0.1", listener.port, worker, AnyPolicy())
        assert await stream.read() == b""
        await stream.aclose()
        await wait_until(lambda: listener.refused + listener.accepted == 1, what="a verdict")
        return listener.refused


async def test_the_proxy_asks_its_pccs(tmp_path: Path, vectors, dcap_quote: bytes, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="cocoon.net.listener")
    async with FakePccs(vectors.text("dcap-tdx-quote-collateral.json")) as pccs:
        assert await present_vector(config(tmp_path, pccs_url=pccs.url), dcap_quote) == 1
    assert f"/tdx/certification/v4/tcb?fmspc={pccs.fmspc}&update=standard" in pccs.requests
    assert "served DCAP collateral for FMSPC B0C06F000000 that expired at 2025-07-19T10:00:35Z" in caplog.text


async def test_the_proxy_loads_its_collateral_files(
    tmp_path: Path, vectors, dcap_quote: bytes, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="cocoon.net.listener")
    path = str(vectors.path("dcap-tdx-quote-collateral.json"))
    assert await present_vector(config(tmp_path, collateral_files=[path]), dcap_quote) == 1
    # loaded, but long expired:
    assert "collateral for platform FMSPC B0C06F000000 (collateral_files) is not valid at" in caplog.text


async def test_without_either_the_refusal_says_which_setting(
    tmp_path: Path, dcap_quote: bytes, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="cocoon.net.listener")
    assert await present_vector(config(tmp_path), dcap_quote) == 1
    assert "no DCAP collateral for platform FMSPC B0C06F000000: set pccs_url" in caplog.text


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"collateral_files": ["/nonexistent/c.json"]}, "collateral_files: cannot read /nonexistent/c.json"),
        ({"pccs_url": "pccs.example.com"}, "must be an http\\(s\\):// URL"),
    ],
)
async def test_bad_collateral_settings_stop_the_build(
    tmp_path: Path, settings: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        async with build_proxy(config(tmp_path, **settings)):
            pass
