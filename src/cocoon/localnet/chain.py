"""The local network's chain: keys, the root, funded wallets (the chain part of `cocoon up`).

`cocoon up` runs `cocoon chain serve` first, then :func:`prepare_chain` before the proxy starts:

1. every node gets a wallet key file (``<data-dir>/<node>/wallet.key``, kept across runs), and the
   root owner one in ``<data-dir>/root-owner/wallet.key``;
2. the faucet tops every wallet up to its target balance (all at once);
3. the root owner's wallet deploys the root with our contract codes and, in the same external,
   allows our worker and proxy image hash, the served model, and registers the proxy.

Everything is idempotent: a restarted `cocoon up` on the same data dir finds the root and the
registrations in the persisted chain and only tops wallets up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.node.keys import wallet_key_path
from cocoon.registry import (
    RegistrySnapshot,
    RootOwner,
    allow_model,
    allow_proxy_image,
    allow_worker_image,
    model_hash,
    register_proxy,
    root_address,
    unregister_proxy,
)
from cocoon.registry.snapshot import image_hash_int
from cocoon.ton.address import Address
from cocoon.ton.codec import Body
from cocoon.ton.data import ProxyEndpoints
from cocoon.ton.ops import TON
from cocoon.ton.params import Params
from cocoon.wallet import NodeWallet, WalletKey, WalletTimings, load_or_create_key_file

ROOT_OWNER = "root-owner"
LOCAL_TIMINGS = WalletTimings(resend_interval_s=2.0, poll_interval_s=0.05, inclusion_timeout_s=30.0)
"""The local chain includes an external as it receives it: poll briskly."""


def node_wallet_key(data_dir: Path, node: str) -> Path:
    """Where the local network keeps ``node``'s wallet key: in that node's own data dir."""
    return wallet_key_path(data_dir / node)


@dataclass(frozen=True)
class ChainPlan:
    """What the local chain must hold before the nodes start."""

    url: str
    data_dir: Path
    funding: dict[str, int]
    """Node name -> balance (nanoTON) its wallet is topped up to; the root owner included."""
    proxy: ProxyEndpoints
    image_hash: bytes
    params: Params
    worker_image_hash: bytes | None = None
    """The workers' image hash when it is not ``image_hash`` (the tdx-vectors demo's recorded quote)."""

    def key(self, node: str) -> WalletKey:
        """The node's wallet key (created on first use, 0600)."""
        return load_or_create_key_file(node_wallet_key(self.data_dir, node))

    @property
    def root(self) -> Address:
        """Where the root lives: fixed by the root owner's key and the params, known before deploying."""
        return root_address(self.key(ROOT_OWNER).address, self.params)


@dataclass(frozen=True)
class ChainReady:
    root: RegistrySnapshot
    wallets: dict[str, Address]
    seconds: float


async def prepare_chain(plan: ChainPlan, models: Sequence[str], clock: Clock = SYSTEM_CLOCK) -> ChainReady:
    """Fund every wallet, deploy the root and register what the network serves (see module doc).

    ``clock`` times the whole preparation (`ChainReady.seconds`, shown to the person waiting).
    """
    started = clock.monotonic()
    keys = {node: plan.key(node) for node in plan.funding}
    async with ToncenterChain(plan.url) as chain:
        await asyncio.gather(*(_top_up(chain, keys[n].address, target) for n, target in plan.funding.items()))
        wallet = NodeWallet(chain, keys[ROOT_OWNER], LOCAL_TIMINGS, clock)
        owner = await RootOwner.deploy(chain, wallet, plan.params, clock=clock)
        missing = _missing_ops(await owner.snapshot(), plan, models)
        snapshot = await owner.apply(missing) if missing else await owner.snapshot()
    wallets = {node: key.address for node, key in keys.items()}
    return ChainReady(snapshot, wallets, clock.monotonic() - started)


async def _top_up(chain: ToncenterChain, address: Address, target: int) -> None:
    balance = (await chain.get_account(address)).balance
    if balance < target:
        await chain.fund(address, target - balance)


def _missing_ops(snap: RegistrySnapshot, plan: ChainPlan, models: Sequence[str]) -> list[Body]:
    """The owner operations whose effect the root does not show yet (so reruns add nothing)."""
    ops: list[Body] = []
    worker_image = plan.worker_image_hash or plan.image_hash
    if image_hash_int(worker_image) not in snap.worker_hashes:
        ops.append(allow_worker_image(worker_image))
    if image_hash_int(plan.image_hash) not in snap.proxy_hashes:
        ops.append(allow_proxy_image(plan.image_hash))
    ops.extend(allow_model(m) for m in models if model_hash(m) not in snap.model_hashes)
    # the local network has one proxy: endpoints of an earlier run on other ports are stale
    ops.extend(unregister_proxy(seqno) for seqno, ep in snap.proxies.items() if ep != plan.proxy)
    if plan.proxy not in snap.proxies.values():
        ops.append(register_proxy(plan.proxy))
    return ops


async def wallet_balances(url: str, wallets: dict[str, Address]) -> dict[str, int]:
    """Current balance of each wallet (for the status table)."""
    async with ToncenterChain(url, timeout=2.0) as chain:
        states = await asyncio.gather(*(chain.get_account(a) for a in wallets.values()))
    return {node: state.balance for node, state in zip(wallets, states, strict=True)}


def default_funding(nodes: Sequence[str], client_ton: int) -> dict[str, int]:
    """Target balances: clients get their deposit plus fees, everyone else enough for deposits and fees."""
    funding = {ROOT_OWNER: 10 * TON}
    for node in nodes:
        funding[node] = (client_ton + 10) * TON if node.startswith("client") else 20 * TON
    return funding
