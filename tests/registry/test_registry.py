"""The root contract driven from a node wallet and read back after every owner operation."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

import pytest

from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.clock import FakeClock
from cocoon.errors import ChainError, ConfigError, ContractError
from cocoon.node.root import root_proxies, with_root_proxies
from cocoon.registry import (
    RegistrySnapshot,
    RegistryWatcher,
    RootOwner,
    allow_model,
    allow_proxy_image,
    allow_worker_image,
    local_params,
    model_hash,
    read_registry,
    register_proxy,
    root_address,
    set_fees,
    wait_for_version,
)
from cocoon.roles import WorkerConfig
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.cells import cell_hash
from cocoon.ton.chain import AccountState
from cocoon.ton.data import ProxyEndpoints
from cocoon.ton.ops import TON, ExitCode
from cocoon.wallet import NodeWallet, OutMessage, RecordingSender, WalletKey, WalletTimings
from waiting import wait_until

START = 1_750_000_000
FAST = WalletTimings(
    resend_interval_s=0.05, poll_interval_s=0.01, inclusion_timeout_s=5.0, batch_window_s=0.0
)
IMAGE = hashlib.sha256(b"worker image").digest()
PROXY_IMAGE = hashlib.sha256(b"proxy image").digest()
MODEL = "SmolLM2-135M-Instruct@main:abc"


@pytest.fixture
def chain() -> AsyncLocalChain:
    return AsyncLocalChain(LocalChain(None, now=START))


class CountingChain(AsyncLocalChain):
    """Counts account reads; with a ``clock``, each read takes a second of it (a slow API)."""

    def __init__(self, chain: LocalChain, clock: FakeClock | None = None) -> None:
        super().__init__(chain)
        self.clock = clock
        self.reads = 0

    async def get_account(self, address: Address) -> AccountState:
        self.reads += 1
        if self.clock is not None:
            self.clock.advance(1.0)
        return await super().get_account(address)


def funded_wallet(chain: AsyncLocalChain, seed: bytes = b"\x21" * 32) -> NodeWallet:
    key = WalletKey(seed)
    chain.chain.fund(key.address, 10 * TON)
    return NodeWallet(chain, key, FAST)


@pytest.fixture
async def owner(chain: AsyncLocalChain) -> RootOwner:
    wallet = funded_wallet(chain)
    return await RootOwner.deploy(chain, wallet, local_params(price_per_token=20, worker_fee_per_token=19))


async def test_deploy_gives_an_empty_registry_at_the_computed_address(
    chain: AsyncLocalChain, owner: RootOwner
) -> None:
    params = local_params(price_per_token=20, worker_fee_per_token=19)
    assert owner.root == root_address(owner.sender.address, params)
    snap = await read_registry(chain, owner.root)
    assert (snap.version, snap.owner, snap.proxies, snap.last_proxy_seqno) == (0, owner.sender.address, {}, 0)
    assert snap.worker_hashes == snap.proxy_hashes == snap.model_hashes == frozenset()
    assert (snap.params.price_per_token, snap.params.worker_fee_per_token) == (20, 19)
    assert cell_hash(snap.chain_params.worker_code) == cell_hash(params.worker_code)
    again = await RootOwner.deploy(chain, owner.sender, params)  # idempotent: already deployed
    assert again.root == owner.root and (await read_registry(chain, owner.root)).version == 0


async def test_each_owner_operation_bumps_the_version_and_shows(owner: RootOwner) -> None:
    snap = await owner.apply([allow_worker_image(IMAGE)])
    assert snap.version == 1 and snap.worker_image_allowed(IMAGE)
    assert not snap.proxy_image_allowed(IMAGE)
    snap = await owner.apply([allow_proxy_image(PROXY_IMAGE)])
    assert snap.version == 2 and snap.proxy_image_allowed(PROXY_IMAGE)
    snap = await owner.apply([allow_model(MODEL)])
    assert snap.version == 3 and snap.model_allowed(MODEL) and not snap.model_allowed("other")
    assert snap.model_hashes == {model_hash(MODEL)}
    snap = await owner.apply([register_proxy(ProxyEndpoints("127.0.0.1:11001", "127.0.0.1:11002"))])
    assert snap.version == 4 and snap.last_proxy_seqno == 1
    assert snap.proxy_endpoints("worker") == ["127.0.0.1:11001"]
    assert snap.proxy_endpoints("client") == ["127.0.0.1:11002"]
    before = snap.params_version
    snap = await owner.apply([set_fees(30, 27)])
    assert snap.version == 5 and snap.params_version == before + 1
    assert (snap.params.price_per_token, snap.params.worker_fee_per_token) == (30, 27)
    assert snap.params.params_version == snap.params_version


async def test_several_operations_in_one_external(owner: RootOwner) -> None:
    wallet = owner.sender
    assert isinstance(wallet, NodeWallet)
    sent = wallet.externals_sent
    snap = await owner.apply(
        [
            allow_worker_image(IMAGE),
            allow_proxy_image(PROXY_IMAGE),
            allow_model(MODEL),
            register_proxy(ProxyEndpoints.parse("10.0.0.1:5000")),
        ]
    )
    assert wallet.externals_sent == sent + 1
    assert snap.version == 4 and snap.proxies[1] == ProxyEndpoints("10.0.0.1:5000", "10.0.0.1:5000")


async def test_rejected_operations_raise_with_the_root_exit_code(
    chain: AsyncLocalChain, owner: RootOwner
) -> None:
    stranger = RootOwner(chain, funded_wallet(chain, b"\x22" * 32), owner.root, timeout_s=5)
    with pytest.raises(ContractError, match="not the root's owner") as info:
        await stranger.apply([allow_model(MODEL)])
    assert info.value.exit_code == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
    with pytest.raises(ContractError, match="no registered proxy") as info:
        await owner.apply([m.UpdateProxy(query_id=1, seqno=9, desc="127.0.0.1:1")])
    assert info.value.exit_code == ExitCode.UNKNOWN_PROXY_TYPE
    assert (await read_registry(chain, owner.root)).version == 0


async def test_nodes_take_their_proxies_from_the_root(chain: AsyncLocalChain, owner: RootOwner) -> None:
    with pytest.raises(ConfigError, match=r"no proxies yet.*register-proxy"):
        await root_proxies(chain, owner.root, "worker")
    await owner.apply([register_proxy(ProxyEndpoints("10.0.0.1:1", "10.0.0.1:2"))])
    await owner.apply([register_proxy(ProxyEndpoints.parse("10.0.0.2:1"))])
    assert await root_proxies(chain, owner.root, "worker") == ["10.0.0.1:1", "10.0.0.2:1"]
    assert await root_proxies(chain, owner.root, "client") == ["10.0.0.1:2", "10.0.0.2:1"]
    unchained = WorkerConfig(proxies=["x:1"])
    assert with_root_proxies(unchained, "worker", None) is unchained


async def test_reading_a_missing_root_says_what_to_do(chain: AsyncLocalChain) -> None:
    with pytest.raises(ChainError, match="cocoon root deploy"):
        await read_registry(chain, Address(0, b"\x01" * 32))
    with pytest.raises(ValueError, match="worker fee"):
        set_fees(10, 11)


async def test_watcher_calls_back_on_version_change_only(chain: AsyncLocalChain, owner: RootOwner) -> None:
    seen: asyncio.Queue[RegistrySnapshot] = asyncio.Queue()
    counted = CountingChain(chain.chain)
    watcher = RegistryWatcher(counted, owner.root, seen.put_nowait, interval_s=0.01)
    task = asyncio.create_task(watcher.run())
    try:
        assert (await asyncio.wait_for(seen.get(), 2)).version == 0
        polls = counted.reads
        await wait_until(lambda: counted.reads >= polls + 3, what="three more polls")
        assert seen.empty()  # several polls at the same version: no new callback
        await owner.apply([set_fees(40, 38)])
        changed = await asyncio.wait_for(seen.get(), 2)
        assert changed.version == 1 and changed.params.price_per_token == 40
        assert watcher.current == changed
    finally:
        task.cancel()


async def test_waiting_for_a_version_gives_up_after_its_timeout(
    chain: AsyncLocalChain, owner: RootOwner
) -> None:
    clock = FakeClock()
    slow = CountingChain(chain.chain, clock)
    started = clock.monotonic()
    with pytest.raises(ChainError, match="stayed at version 0 for 60 s"):
        await wait_for_version(slow, owner.root, 0, timeout_s=60, poll_s=0, clock=clock)
    assert clock.monotonic() - started == 60  # gave up at the first poll past the timeout


async def test_an_owner_operation_that_never_lands_times_out(
    chain: AsyncLocalChain, owner: RootOwner
) -> None:
    clock = FakeClock()

    class Dropping(RecordingSender):  # the owner's messages never reach the chain
        sent_at = 0.0

        async def send_many(self, messages: Sequence[OutMessage]) -> None:
            self.sent_at = clock.monotonic()
            await super().send_many(messages)

    sender = Dropping(owner.sender.address)
    stuck = RootOwner(
        CountingChain(chain.chain, clock), sender, owner.root, timeout_s=60, poll_s=0, clock=clock
    )
    with pytest.raises(ChainError, match=r"still at version 0 60 s after 1 owner operation"):
        await stuck.apply([allow_model(MODEL)])
    assert len(sender.sent) == 1
    assert clock.monotonic() - sender.sent_at == 60  # gave up at the first poll past the timeout
