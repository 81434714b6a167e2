"""Our client daemon with ``cocoon_proxies`` pointed at our own proxy's COCOON port (no chain).

The roles are built by their composition roots (proxy with its COCOON port at a low PoW difficulty and
off-chain credit, a worker on the in-memory fake engine, the client daemon with ``proxies = []``); the
official ``openai`` SDK asks a chat completion whole and streamed. The proxy's ledger must have
charged exactly the adjusted tokens the app is shown (``tokensUsed``; without a chain the client does
not know the price per token, so the nanoTON cost fields stay what the answer says). With a proxy
policy set, the proxy's RA-TLS certificate is verified: ``fake`` accepts our proxy's development
quote, ``tdx`` refuses it and says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.engine.memory import MemoryEngine
from cocoon.roles import PolicyName
from inprocess import InProcessNet, in_process_network
from waiting import wait_until

PROMPT = [{"role": "user", "content": "tell me a short story about moths"}]


def charged_tokens(net: InProcessNet) -> int:
    """What the proxy's ledger charged the client so far."""
    return net.proxy.service.ledger.client(net.client.service.client_id).charged_tokens


@asynccontextmanager
async def cocoon_network(
    tmp_path: Path, policy: PolicyName = "any", *, connected: bool = True
) -> AsyncIterator[InProcessNet]:
    """The network with our client on the proxy's COCOON port (proxy policy ``policy``); connected,
    or (``connected`` false) once the client has recorded why it could not connect."""
    async with in_process_network(
        tmp_path,
        [MemoryEngine()],
        proxy_settings={"cocoon_pow_difficulty": 4},
        client_settings={"cocoon_proxy_policy": policy, "e2e": "off"},
        cocoon=True,
        wait_connected=connected,
    ) as net:
        cocoon = net.client.service.cocoon
        assert cocoon is not None
        if not connected:
            await wait_until(lambda: cocoon.last_error, 20, what="a refusal")
        yield net


async def test_whole_and_streamed_answers_through_our_cocoon_port_are_charged_exactly(tmp_path: Path) -> None:
    async with cocoon_network(tmp_path) as net:
        [model] = (await net.sdk.models.list()).data
        assert model.id == FAKE_MODEL
        whole = await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=PROMPT)  # type: ignore[arg-type]
        assert whole.choices[0].message.content
        usage = whole.usage.model_extra  # type: ignore[union-attr]
        assert usage is not None
        charged = charged_tokens(net)
        assert usage["adjusted_tokens"] == charged > 0

        stream = await net.sdk.chat.completions.create(
            model=FAKE_MODEL,
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, last = [], None
        async for chunk in stream:
            pieces += [c.delta.content or "" for c in chunk.choices]
            last = chunk.usage or last
        assert "".join(pieces) == whole.choices[0].message.content
        assert last is not None and last.model_extra is not None
        assert last.model_extra["adjusted_tokens"] == charged_tokens(net) - charged > 0
        [entry] = (await net.client.service.status())["proxies"].values()
        assert (entry["protocol"], entry["auth"], entry["requests"]) == ("cocoon", "short", 2)


async def test_the_proxys_attestation_is_checked_when_a_policy_is_set(tmp_path: Path) -> None:
    async with cocoon_network(tmp_path / "fake", "fake") as net:
        [entry] = (await net.client.service.status())["proxies"].values()
        assert "policy fake" in entry["attestation"]
        assert (await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=PROMPT)).choices  # type: ignore[arg-type]
    async with cocoon_network(tmp_path / "tdx", "tdx", connected=False) as net:
        pool = net.client.service
        assert pool.cocoon is not None and not pool.cocoon.links
        [why] = pool.cocoon.last_error.values()
        assert why.startswith("cannot connect") and "tdx" in why.lower()
