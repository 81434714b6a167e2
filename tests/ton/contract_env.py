"""A deployed COCOON contract set on a fresh ``LocalChain``, for the per-contract tests.

Only wiring: the chain, codes, cells and signatures all come from ``cocoon.ton`` (LocalChain, data,
messages, signed). Owners are plain addresses: the chain injects their messages without debiting them,
so a test reads exact amounts from the trace's messages instead of wallet balances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cocoon.chainsvc.local import LocalChain
from cocoon.ton import data
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell, load_address
from cocoon.ton.chain import Message, Transaction, first_failure
from cocoon.ton.ops import TON, Op
from cocoon.ton.params import Params, make_params
from cocoon.ton.signed import public_key_of, sign_request

START = 1_750_000_000
PRICE, WORKER_FEE = 20, 19
CLIENT_DELAY, PROXY_DELAY = 300, 600


def addr(tag: str) -> Address:
    """A deterministic plain address (no contract behind it) named by ``tag``."""
    return Address(0, hashlib.sha256(tag.encode()).digest())


ROOT_OWNER, PROXY_OWNER = addr("root-owner"), addr("proxy-owner")
WORKER_OWNER, CLIENT_OWNER, STRANGER = addr("worker-owner"), addr("client-owner"), addr("stranger")


@dataclass
class Net:
    chain: LocalChain
    params: Params
    proxy_secret: bytes
    root: Address
    proxy: Address
    worker: Address
    client: Address
    root_owner: Address = ROOT_OWNER
    proxy_owner: Address = PROXY_OWNER
    worker_owner: Address = WORKER_OWNER
    client_owner: Address = CLIENT_OWNER
    stranger: Address = STRANGER

    @property
    def proxy_key(self) -> int:
        return int.from_bytes(public_key_of(self.proxy_secret), "big")

    def send(self, src: Address, dest: Address, value: int, body: Cell) -> list[Transaction]:
        return self.chain.send_internal(src, dest, value, body)

    def signed(
        self,
        op: int,
        target: Address,
        *,
        tokens: int | None = None,
        query_id: int = 7,
        secret: bytes | None = None,
    ) -> Cell:
        """A proxy-signed request body for ``target`` (``secret`` overrides the proxy key)."""
        request = sign_request(
            secret or self.proxy_secret, op, query_id=query_id, target=target, new_tokens=tokens
        )
        return request.to_cell()

    def get(self, address: Address, method: str, *args: int) -> list[object]:
        return list(self.chain.run_get_method(address, method, list(args)))


def deploy_net(proxy_secret: bytes = b"\x07" * 32, **param_overrides: int) -> Net:
    """Root, one proxy contract and its worker and client contracts, deployed as the nodes do."""
    chain = LocalChain(None, now=START)
    params = make_params(
        proxy_code=contract_code("proxy"),
        worker_code=contract_code("worker"),
        client_code=contract_code("client"),
        price_per_token=PRICE,
        worker_fee_per_token=WORKER_FEE,
        proxy_delay_before_close=PROXY_DELAY,
        client_delay_before_close=CLIENT_DELAY,
        **param_overrides,
    )
    key = int.from_bytes(public_key_of(proxy_secret), "big")
    root = chain.deploy(*data.root_state_init(contract_code("root"), ROOT_OWNER, params), TON)
    proxy = chain.deploy(*data.proxy_state_init(PROXY_OWNER, key, root, params), 3 * TON // 10)
    worker = chain.deploy(*data.worker_state_init(WORKER_OWNER, proxy, key, params), 3 * TON // 10)
    client = chain.deploy(*data.client_state_init(CLIENT_OWNER, proxy, key, params), 8 * TON // 10)
    return Net(chain, params, proxy_secret, root, proxy, worker, client)


def as_address(value: object) -> Address | None:
    """An address returned by a get-method (a slice, which comes back as a cell)."""
    return load_address(value.begin_parse())  # type: ignore[attr-defined]


def failure(trace: Sequence[Transaction]) -> int | None:
    """Exit code of the first failing transaction of ``trace`` (``None`` if all succeeded)."""
    tx = first_failure(trace)
    return None if tx is None else tx.failure_code


def messages_to(trace: Sequence[Transaction], dest: Address, op: int | None = None) -> list[Message]:
    """Every internal message of ``trace`` addressed to ``dest`` (optionally with body ``op``)."""
    return [m for tx in trace for m in tx.out_msgs if m.dest == dest and (op is None or m.op == op)]


def paid_to(trace: Sequence[Transaction], dest: Address) -> int:
    """Sum of ``payout`` messages to ``dest`` in ``trace`` (excesses are change, not payouts)."""
    return sum(m.value for m in messages_to(trace, dest, Op.PAYOUT))


def tx_of(trace: Sequence[Transaction], account: Address) -> Transaction:
    """The first transaction of ``account`` in ``trace``."""
    return next(tx for tx in trace if tx.account == account)
