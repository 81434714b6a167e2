"""The third-party COCOON TypeScript SDK (../shared/peers/cocoon-ts-sdk) as a client of COCOON proxies.

The SDK is installed with ``npm ci`` and built once per machine (`ts_sdk_harness.installed_sdk`); our
driver (``ts_sdk/driver.mjs``) makes it list models and ask for a chat completion, whole and streamed,
and reports what it got, including the proxy's ``tokens_used`` for each answer. Against the reference
proxy (its test mode, fake TON) the driver harness is checked on the reference itself; against our
proxy's COCOON port the charges are checked too. Skipped only where node/npm are absent (or where the
reference binaries cannot run, for the reference test). No streamed test goes through the reference's
network: its worker (at the pinned commit) passes on only the bare JSON values it parses from an
engine's answer, so an SSE stream never reaches the SDK, which reads only `data:` lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cocoon_client import cocoon_net
from reference_runner import ReferenceProcesses, reference_processes, skip_unless_runnable
from ts_sdk_harness import (
    ClientCert,
    DriverError,
    InstalledSdk,
    OurNetwork,
    client_certificate,
    event,
    fake_engine_thread,
    installed_sdk,
    our_network,
    run_driver,
)

from cocoon.chainsvc.server import create_app
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.proxy.ledger import CLIENT_CHANNEL
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus
from cocoon.ton.ops import TON

pytestmark = pytest.mark.slow

REFERENCE_MODEL = "Qwen/Qwen3-8B"  # the model the reference's test worker announces
PROMPT = "Say OK"
MAX_TOKENS = 16
# The SDK solves the proof of work in JavaScript, about 1.4 s on average at difficulty 20 (an exponential
# tail: 10 s happens). The reference test and our short-auth test use 20; the long-auth ones less.
LOW_POW = 12


@pytest.fixture(scope="module")
def sdk() -> InstalledSdk:
    return installed_sdk()


async def _direct(engine_url: str, model: str) -> dict[str, Any]:
    """The fake engine's own answer to the request the SDK sends (deterministic), for comparison."""
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{engine_url}/v1/chat/completions", json=body) as r,
    ):
        assert r.status == 200
        answer: dict[str, Any] = await r.json()
        return answer


def _wallet(sdk: InstalledSdk) -> dict[str, Any]:
    return event(run_driver(sdk, {"cmd": "wallet"}), "wallet")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ReferenceProcesses]]:
    """Our fake engine (serving the reference's test model) behind the reference's proxy and worker."""
    skip_unless_runnable("proxy-runner", "worker-runner", "router")
    run_dir = tmp_path_factory.mktemp("reference")
    with (
        fake_engine_thread(FakeEngineConfig(model=REFERENCE_MODEL)) as engine_url,
        reference_processes(run_dir, "--worker", engine_url.removeprefix("http://")) as proxy,
    ):
        proxy.wait_for_worker()
        yield engine_url, proxy


def _reference_config(
    sdk: InstalledSdk, proxy: ReferenceProcesses, tmp_path: Path, steps: list[str]
) -> dict[str, Any]:
    """Driver config for the reference proxy: a fresh wallet, short auth, a client certificate.

    The reference's fake TON creates every client's contract with the hash of the empty secret, so the
    SDK short-authenticates with ``secret = ""``. The SDK always says ``is_test = false``, which a
    test-mode proxy refuses ("test mode mismatch"), so the driver flips that one flag here.
    """
    cert = client_certificate(tmp_path)
    return {
        "cmd": "run",
        "proxy_url": f"127.0.0.1:{proxy.client_port}",
        "mnemonic": _wallet(sdk)["mnemonic"],
        "secret": "",
        "tls_cert_path": str(cert.cert),
        "tls_key_path": str(cert.key),
        "force_is_test": True,
        "model": REFERENCE_MODEL,
        "prompt": PROMPT,
        "max_tokens": MAX_TOKENS,
        "steps": steps,
    }


async def test_sdk_against_reference_proxy(
    sdk: InstalledSdk, reference: tuple[str, ReferenceProcesses], tmp_path: Path
) -> None:
    """Models and a whole chat completion through the reference proxy and worker, short auth."""
    engine_url, proxy = reference
    config = _reference_config(sdk, proxy, tmp_path, ["models", "chat"])
    lines = await asyncio.to_thread(run_driver, sdk, config)
    direct = await _direct(engine_url, REFERENCE_MODEL)

    connected = event(lines, "connected")
    assert connected["proto_version"] == 1  # the SDK offers protocol versions 0..1 only
    assert connected["client_sc_address"]
    models = event(lines, "models")["models"]
    assert [(m["id"], m["active_workers"]) for m in models] == [(REFERENCE_MODEL, 1)]

    chat = event(lines, "chat")
    assert chat["text"] == direct["choices"][0]["message"]["content"]
    assert chat["usage"]["prompt_tokens"] == direct["usage"]["prompt_tokens"]
    assert chat["usage"]["completion_tokens"] == direct["usage"]["completion_tokens"]
    assert chat["tokens_used"] is not None  # the proxy's final info reached the SDK

    # The reference proxy's ledger for this client equals what it reported in tokens_used (its test
    # worker has coefficient 0, so both are 0 there: this checks the plumbing, not a price).
    sc = connected["client_sc_address"]
    clients = [c for c in proxy.jsonstats()["clients"] if c["sc_address"] == sc]
    assert len(clients) == 1
    assert clients[0]["used_tokens"] == chat["tokens_used"]["total"]


def _adjusted(usage: dict[str, Any]) -> int:
    """Adjusted tokens of an OpenAI usage at coefficient 1000 and multipliers 10000 (economics.md)."""
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
    return int((prompt - cached) + cached + (completion - reasoning) + reasoning)


async def test_sdk_against_our_proxy_short_auth(sdk: InstalledSdk, tmp_path: Path) -> None:
    """Models, a whole and a streamed chat completion through our proxy's COCOON port with short auth;
    the proxy's ledger, the client's payment channel and, after settlement, the client contract are
    charged exactly the tokens the SDK was told in ``tokens_used``, at the root's price."""
    wallet = _wallet(sdk)
    owner = Address.parse(wallet["raw_address"])
    cert = client_certificate(tmp_path)
    secret = "an sdk secret"
    async with our_network(tmp_path) as ours:
        contract = ours.open_client(owner, top_up=3 * TON, secret=secret)
        config = {
            "cmd": "run",
            "proxy_url": f"127.0.0.1:{ours.port}",
            "mnemonic": wallet["mnemonic"],
            "secret": secret,
            "tls_cert_path": str(cert.cert),
            "tls_key_path": str(cert.key),
            "prompt": PROMPT,
            "max_tokens": MAX_TOKENS,
            "steps": ["models", "chat", "stream"],
        }
        lines = await asyncio.to_thread(run_driver, sdk, config)
        connected = event(lines, "connected")
        assert connected["proto_version"] == 1
        assert Address.parse(connected["client_sc_address"]) == contract
        assert Address.parse(connected["proxy_sc_address"]) == ours.settlement.contract
        models = event(lines, "models")["models"]
        assert [(m["id"], m["active_workers"]) for m in models] == [(FAKE_MODEL, 1)]

        direct = await _direct(ours.net.worker.config.engine_url, FAKE_MODEL)
        expected_text = direct["choices"][0]["message"]["content"]
        chat, stream = event(lines, "chat"), event(lines, "stream")
        assert chat["text"] == expected_text and chat["finish_reason"] == "stop"
        assert stream["text"] == expected_text and stream["chunks"] > 1
        assert chat["usage"]["prompt_tokens"] == direct["usage"]["prompt_tokens"]
        assert chat["usage"]["completion_tokens"] == direct["usage"]["completion_tokens"]
        assert chat["tokens_used"]["total"] == _adjusted(direct["usage"]) > 0
        assert stream["usage"] is not None  # the engine's usage chunk reaches the SDK
        assert stream["tokens_used"]["total"] == _adjusted(stream["usage"]) > 0
        total = chat["tokens_used"]["total"] + stream["tokens_used"]["total"]

        account = ours.net.proxy.ledger.client(cert.public_key)
        assert account.charged_tokens == total
        assert account.charged_nano == total * ours.price
        channel = ours.settlement.channels.counters(CLIENT_CHANNEL, owner.raw)
        assert channel.tokens_max == total

        await ours.settlement.force()  # committed and charged on chain
        charged = ours.client_contract(contract)
        assert (charged.tokens_used, charged.balance) == (total, 3 * TON - total * ours.price)


async def _tick_forever(ours: OurNetwork) -> None:
    """The proxy's settlement loop (reads register notes off the chain), as a running proxy ticks it."""
    while True:
        await ours.settlement.tick()
        await asyncio.sleep(0.05)


async def _long_auth(
    sdk: InstalledSdk, ours: OurNetwork, mnemonic: str, cert: ClientCert
) -> list[dict[str, Any]]:
    """Run the driver with the SDK's automatic long authorization, its TON clients pointed at the local
    chain (TonClient4 API and v2 JSON-RPC), while the proxy's settlement loop runs."""
    server = TestServer(create_app(ours.world.local))
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    ticking = asyncio.create_task(_tick_forever(ours))
    try:
        config = {
            "cmd": "run",
            "proxy_url": f"127.0.0.1:{ours.port}",
            "mnemonic": mnemonic,
            "tls_cert_path": str(cert.cert),
            "tls_key_path": str(cert.key),
            "auto_register": True,
            "ton_v4_endpoint": f"{base}/v4",
            "ton_endpoint": f"{base}/api/v2/jsonRPC",
            "model": FAKE_MODEL,
            "prompt": PROMPT,
            "max_tokens": MAX_TOKENS,
            "steps": ["chat"],
        }
        return await asyncio.to_thread(run_driver, sdk, config)
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        await server.close()


async def test_sdk_long_auth_registers_on_the_local_chain(sdk: InstalledSdk, tmp_path: Path) -> None:
    """The SDK's own long authorization against our proxy: with no secret in its client contract the
    proxy hands out a nonce; the SDK's mnemonic wallet (v4r2, deployed by its first transfer) sends
    ``owner_client_register`` with it through the local chain's TonClient4 API; our client contract
    forwards the note to the proxy contract, the proxy's chain reader sees it and authorizes; the
    request that follows is charged to that contract."""
    wallet = _wallet(sdk)
    owner = Address.parse(wallet["raw_address"])
    cert = client_certificate(tmp_path)
    async with our_network(tmp_path, pow_difficulty=LOW_POW) as ours:
        contract = ours.open_client(owner, top_up=3 * TON, secret=None)
        ours.world.local.fund(owner, 5 * TON)  # the SDK's wallet pays 1 TON for the registration
        lines = await _long_auth(sdk, ours, wallet["mnemonic"], cert)

        connected = event(lines, "connected")
        assert Address.parse(connected["client_sc_address"]) == contract
        port = ours.net.proxy.cocoon_port
        assert port is not None and port.registers.notes_seen == 1
        assert ours.world.local.account(owner).status == AccountStatus.ACTIVE  # deployed by its transfer
        chat = event(lines, "chat")
        assert chat["tokens_used"]["total"] == _adjusted(chat["usage"]) > 0
        total = chat["tokens_used"]["total"]
        assert ours.net.proxy.ledger.client(cert.public_key).charged_tokens == total
        await ours.settlement.force()
        charged = ours.client_contract(contract)
        assert (charged.tokens_used, charged.balance) == (total, 3 * TON - total * ours.price)


async def test_sdk_cannot_deploy_its_client_contract_on_a_local_chain(
    sdk: InstalledSdk, tmp_path: Path
) -> None:
    """Where the SDK stops: without a client contract it must deploy one, and for that it reads the
    root contract at its built-in address (the public network's; the SDK has no option for another),
    which a local chain does not hold. The proxy charges nothing and binds nothing."""
    wallet = _wallet(sdk)
    owner = Address.parse(wallet["raw_address"])
    cert = client_certificate(tmp_path)
    async with our_network(tmp_path, pow_difficulty=LOW_POW) as ours:
        ours.world.local.fund(owner, 5 * TON)
        with pytest.raises(DriverError, match="Root contract is not initialized"):
            await _long_auth(sdk, ours, wallet["mnemonic"], cert)
        port = ours.net.proxy.cocoon_port
        assert port is not None and port.registers.notes_seen == 0
        assert ours.net.proxy.ledger.client(cert.public_key).charged_tokens == 0


async def test_sdk_against_our_proxy_without_a_chain(sdk: InstalledSdk, tmp_path: Path) -> None:
    """Without a chain our proxy behaves as the reference's fake-TON mode: the SDK short-authenticates
    with the empty secret and spends the proxy's off-chain credit, charged what ``tokens_used`` says."""
    wallet = _wallet(sdk)
    cert = client_certificate(tmp_path)
    async with cocoon_net(tmp_path, cocoon_pow_difficulty=LOW_POW) as net:
        config = {
            "cmd": "run",
            "proxy_url": f"127.0.0.1:{net.port}",
            "mnemonic": wallet["mnemonic"],
            "secret": "",
            "tls_cert_path": str(cert.cert),
            "tls_key_path": str(cert.key),
            "prompt": PROMPT,
            "max_tokens": MAX_TOKENS,
            "steps": ["models", "chat"],
        }
        lines = await asyncio.to_thread(run_driver, sdk, config)
        assert [m["id"] for m in event(lines, "models")["models"]] == [FAKE_MODEL]
        chat = event(lines, "chat")
        total = chat["tokens_used"]["total"]
        assert total == _adjusted(chat["usage"]) > 0
        account = net.proxy.ledger.client(cert.public_key)
        assert (account.charged_tokens, account.charged_nano) == (
            total,
            total * net.proxy.config.price_per_token,
        )
