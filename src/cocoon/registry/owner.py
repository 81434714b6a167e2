"""The root owner's operations: deploy the root, allow and revoke hashes, register, update and
unregister proxies, change fees or all params, hand the root to a new owner.

Each operation is one message from the owner's wallet (any :class:`~cocoon.wallet.MessageSender`);
:class:`RootOwner` then waits until the root's ``version`` moves, so a returned snapshot already
shows the change. Several operations can go in one wallet external: :meth:`RootOwner.apply` takes many.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Sequence
from typing import Any

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ChainError, ContractError
from cocoon.payments.params import NetworkParams
from cocoon.registry.reader import read_registry, wait_for_version
from cocoon.registry.snapshot import RegistrySnapshot, image_hash_int, model_hash
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.codec import Body
from cocoon.ton.data import ProxyEndpoints, address_of, root_state_init
from cocoon.ton.ops import TON, ExitCode
from cocoon.ton.params import Params, make_params
from cocoon.wallet.sender import MessageSender, OutMessage

ROOT_DEPLOY_VALUE = TON // 10
"""Attached to the root's deployment (it holds no funds; the rest pays its storage for years)."""
OWNER_OP_VALUE = TON // 10
"""Attached to an owner operation (the root keeps 0.01 TON and returns the rest as excesses)."""

_MEANINGS: dict[int, str] = {
    ExitCode.EXPECTED_MESSAGE_FROM_OWNER: "the sending wallet is not the root's owner",
    ExitCode.UNKNOWN_PROXY_TYPE: "no registered proxy has that seqno",
    ExitCode.UNKNOWN_OP: "the root does not know this operation",
}
# A random start, not the time: ids stay distinct across restarts without reading a clock.
_query_ids = itertools.count(secrets.randbelow(2**40))


def next_query_id() -> int:
    """A fresh query id (unique per process, random across restarts)."""
    return next(_query_ids)


def local_params(**overrides: Any) -> Params:
    """Params with our compiled proxy/worker/client codes and the local-network defaults; ``overrides``
    are :func:`cocoon.ton.params.make_params` keywords (``price_per_token=...``)."""
    return make_params(
        proxy_code=contract_code("proxy"),
        worker_code=contract_code("worker"),
        client_code=contract_code("client"),
        **overrides,
    )


def root_address(owner: Address, params: Params) -> Address:
    """Where the root of ``owner`` with ``params`` lives (deployed or not)."""
    return address_of(root_state_init(contract_code("root"), owner, params))


def allow_worker_image(image_hash: bytes) -> Body:
    return m.AddWorkerType(query_id=next_query_id(), hash=image_hash_int(image_hash))


def allow_proxy_image(image_hash: bytes) -> Body:
    return m.AddProxyType(query_id=next_query_id(), hash=image_hash_int(image_hash))


def allow_model(model: str) -> Body:
    return m.AddModelType(query_id=next_query_id(), hash=model_hash(model))


def register_proxy(endpoints: ProxyEndpoints) -> Body:
    return m.RegisterProxy(query_id=next_query_id(), desc=str(endpoints))


def unregister_proxy(seqno: int) -> Body:
    return m.UnregisterProxy(query_id=next_query_id(), seqno=seqno)


def revoke_worker_image(image_hash: bytes) -> Body:
    return m.DelWorkerType(query_id=next_query_id(), hash=image_hash_int(image_hash))


def revoke_proxy_image(image_hash: bytes) -> Body:
    return m.DelProxyType(query_id=next_query_id(), hash=image_hash_int(image_hash))


def revoke_model(model: str) -> Body:
    return m.DelModelType(query_id=next_query_id(), hash=model_hash(model))


def update_proxy(seqno: int, endpoints: ProxyEndpoints) -> Body:
    return m.UpdateProxy(query_id=next_query_id(), seqno=seqno, desc=str(endpoints))


def change_owner(new_owner: Address) -> Body:
    return m.ChangeOwner(query_id=next_query_id(), new_owner=new_owner)


def upgrade_contracts(proxy_code: Cell, worker_code: Cell, client_code: Cell) -> Body:
    """Replace the proxy, worker and client codes the root hands out (bumps the params version)."""
    return m.UpgradeContracts(
        query_id=next_query_id(), proxy_code=proxy_code, worker_code=worker_code, client_code=client_code
    )


def upgrade_root(code: Cell) -> Body:
    """Replace the root contract's own code (its data stays)."""
    return m.Upgrade(query_id=next_query_id(), code=code)


def reset_registry() -> Body:
    """Clear the root's four registries: proxy and worker images, registered proxies, models."""
    return m.Reset(query_id=next_query_id())


def change_params(params: NetworkParams) -> Body:
    """Set the price, worker fee, close delays and minimum stakes at once (bumps the params version;
    multipliers stay as they are: the root's change_params does not carry them). ``NetworkParams``
    itself checks the price and the worker fee."""
    for name in ("proxy_delay_before_close", "client_delay_before_close"):
        if not 0 <= getattr(params, name) < 2**32:
            raise ValueError(f"{name} must be within 0..{2**32 - 1} s, got {getattr(params, name)}")
    for name in ("min_proxy_stake", "min_client_stake"):
        if getattr(params, name) < 0:
            raise ValueError(f"{name} must be >= 0 nanoTON, got {getattr(params, name)}")
    return m.ChangeParams(
        query_id=next_query_id(),
        price_per_token=params.price_per_token,
        worker_fee_per_token=params.worker_fee_per_token,
        proxy_delay_before_close=params.proxy_delay_before_close,
        client_delay_before_close=params.client_delay_before_close,
        min_proxy_stake=params.min_proxy_stake,
        min_client_stake=params.min_client_stake,
    )


def set_fees(price_per_token: int, worker_fee_per_token: int) -> Body:
    if not 0 <= worker_fee_per_token <= price_per_token:
        raise ValueError(f"worker fee {worker_fee_per_token} must be within 0..price {price_per_token}")
    return m.ChangeFees(
        query_id=next_query_id(), price_per_token=price_per_token, worker_fee_per_token=worker_fee_per_token
    )


class RootOwner:
    """Owner operations on the root at ``root``, sent through ``sender`` (the owner's wallet).

    Each operation waits for the root's version to move, polling every ``poll_s`` for at most
    ``timeout_s`` seconds on ``clock``.
    """

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        root: Address,
        *,
        timeout_s: float = 60.0,
        poll_s: float = 0.2,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.chain = chain
        self.sender = sender
        self.root = root
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.clock = clock

    @classmethod
    async def deploy(
        cls,
        chain: Chain,
        sender: MessageSender,
        params: Params,
        *,
        timeout_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> RootOwner:
        """Deploy a root owned by ``sender.address`` (no-op if it already exists) and return its owner."""
        init = root_state_init(contract_code("root"), sender.address, params)
        root = address_of(init)
        owner = cls(chain, sender, root, timeout_s=timeout_s, clock=clock)
        if (await chain.get_account(root)).status is not AccountStatus.ACTIVE:
            await sender.send(root, ROOT_DEPLOY_VALUE, state_init=init, bounce=False)
            await wait_for_version(chain, root, -1, timeout_s=timeout_s, clock=clock)
        return owner

    async def snapshot(self) -> RegistrySnapshot:
        return await read_registry(self.chain, self.root)

    async def apply(self, bodies: Sequence[Body]) -> RegistrySnapshot:
        """Send ``bodies`` (batched by the wallet) and wait until the root has applied all of them;
        ContractError (with the root's exit code) if it rejected one."""
        before = await self.snapshot()
        after_lt = (await self.chain.get_account(self.root)).last_lt
        await self.sender.send_many([OutMessage(self.root, OWNER_OP_VALUE, b.to_cell()) for b in bodies])
        deadline = self.clock.monotonic() + self.timeout_s
        while True:
            snapshot = await self.snapshot()
            if snapshot.version >= before.version + len(bodies):
                return snapshot
            await self._raise_if_rejected(after_lt)
            if self.clock.monotonic() >= deadline:
                raise ChainError(
                    f"root {self.root.raw} is still at version {snapshot.version} {self.timeout_s:.0f} s "
                    f"after {len(bodies)} owner operation(s) were sent; is the chain advancing?"
                )
            await asyncio.sleep(self.poll_s)

    async def _raise_if_rejected(self, after_lt: int) -> None:
        """ContractError if one of our messages to the root since ``after_lt`` failed there."""
        for tx in await self.chain.get_transactions(self.root, after_lt=after_lt):
            if tx.in_msg is not None and tx.in_msg.src == self.sender.address and not tx.success:
                code = tx.failure_code if tx.failure_code is not None else -1
                meaning = _MEANINGS.get(code, "see spec/contracts.md")
                raise ContractError(
                    f"root {self.root.raw} rejected an owner operation: exit code {code} ({meaning})",
                    code,
                )
