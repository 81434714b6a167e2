"""Root contract on the local chain: owner-only registry ops, params changes, upgrades, getters."""

from __future__ import annotations

import hashlib

import pytest
from contract_env import Net, addr, as_address, deploy_net, failure, messages_to

from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.artifacts import code_hash, contract_code
from cocoon.ton.cells import begin_cell
from cocoon.ton.chain import Transaction
from cocoon.ton.data import RootData
from cocoon.ton.ops import TON, ExitCode, Op

MODEL = int.from_bytes(hashlib.sha256(b"Qwen/Qwen3-0.6B@main:verity").digest(), "big")


@pytest.fixture
def net() -> Net:
    return deploy_net()


def root(net: Net) -> RootData:
    return RootData.from_cell(net.chain.account(net.root).data)


def owner_op(net: Net, body: m.Body, *, src: Address | None = None) -> list[Transaction]:
    return net.send(src or net.root_owner, net.root, TON // 2, body.to_cell())


def test_deploy_and_getters(net: Net) -> None:
    values = net.get(net.root, "get_cocoon_data")
    p = net.params
    assert values[:9] == [
        0, 0, p.params_version, p.unique_id, p.is_test, p.price_per_token, p.worker_fee_per_token,
        p.min_proxy_stake, p.min_client_stake,
    ]  # fmt: skip
    assert as_address(values[9]) == net.root_owner
    cur = net.get(net.root, "get_cur_params")
    assert cur[7:11] == [
        p.proxy_delay_before_close,
        p.client_delay_before_close,
        p.min_proxy_stake,
        p.min_client_stake,
    ]
    assert cur[11:] == [int.from_bytes(code_hash(n), "big") for n in ("proxy", "worker", "client")]
    assert net.get(net.root, "last_proxy_seqno") == [0]


@pytest.mark.parametrize(
    ("add", "delete", "getter"),
    [
        (m.AddWorkerType, m.DelWorkerType, "worker_hash_is_valid"),
        (m.AddModelType, m.DelModelType, "model_hash_is_valid"),
        (m.AddProxyType, m.DelProxyType, "proxy_hash_is_valid"),
    ],
)
def test_hash_sets(net: Net, add: type[m.Body], delete: type[m.Body], getter: str) -> None:
    assert net.get(net.root, getter, MODEL) == [0]
    trace = owner_op(net, add(query_id=4, hash=MODEL))  # type: ignore[call-arg]
    assert failure(trace) is None
    assert len(messages_to(trace, net.root_owner, Op.EXCESSES)) == 1
    assert net.get(net.root, getter, MODEL) == [-1]
    assert net.get(net.root, getter, MODEL + 1) == [0]
    assert failure(owner_op(net, delete(query_id=5, hash=MODEL))) is None  # type: ignore[call-arg]
    assert net.get(net.root, getter, MODEL) == [0]
    assert root(net).version == 2


def test_every_op_is_owner_only(net: Net) -> None:
    bodies: list[m.Body] = [
        m.AddModelType(query_id=1, hash=MODEL),
        m.RegisterProxy(query_id=1, desc="127.0.0.1:1"),
        m.ChangeFees(query_id=1, price_per_token=1, worker_fee_per_token=1),
        m.Upgrade(query_id=1, code=contract_code("wallet")),
        m.Reset(query_id=1),
        m.ChangeOwner(query_id=1, new_owner=net.stranger),
    ]
    for body in bodies:
        assert failure(owner_op(net, body, src=net.stranger)) == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
    assert root(net).version == 0


def test_proxy_registry(net: Net) -> None:
    assert failure(owner_op(net, m.RegisterProxy(query_id=1, desc="10.0.0.1:8000"))) is None
    assert failure(owner_op(net, m.RegisterProxy(query_id=2, desc="10.0.0.2:8000 10.0.0.2:9000"))) is None
    assert net.get(net.root, "last_proxy_seqno") == [2]
    assert root(net).registry.registered_proxies == {1: "10.0.0.1:8000", 2: "10.0.0.2:8000 10.0.0.2:9000"}
    assert failure(owner_op(net, m.UpdateProxy(query_id=3, seqno=1, desc="10.0.0.9:1"))) is None
    assert (
        failure(owner_op(net, m.UpdateProxy(query_id=3, seqno=7, desc="x:1"))) == ExitCode.UNKNOWN_PROXY_TYPE
    )
    assert failure(owner_op(net, m.UnregisterProxy(query_id=4, seqno=2))) is None
    assert root(net).registry.registered_proxies == {1: "10.0.0.9:1"}
    typed = begin_cell().store_uint(Op.REGISTER_PROXY, 32).store_uint(5, 64).store_uint(1, 1).store_uint(0, 7)
    trace = net.send(net.root_owner, net.root, TON // 2, typed.end_cell())
    assert failure(trace) == ExitCode.UNKNOWN_PROXY_TYPE
    assert failure(owner_op(net, m.Reset(query_id=6))) is None
    registry = root(net).registry
    assert registry.registered_proxies == {} and registry.last_proxy_seqno == 2


def test_params_changes_bump_params_version(net: Net) -> None:
    assert (
        failure(owner_op(net, m.ChangeFees(query_id=1, price_per_token=30, worker_fee_per_token=25))) is None
    )
    params = root(net).params
    assert (params.price_per_token, params.worker_fee_per_token, params.params_version) == (30, 25, 2)
    change = m.ChangeParams(
        query_id=2,
        price_per_token=40,
        worker_fee_per_token=38,
        proxy_delay_before_close=100,
        client_delay_before_close=50,
        min_proxy_stake=3 * TON,
        min_client_stake=2 * TON,
    )
    assert failure(owner_op(net, change)) is None
    params = root(net).params
    assert params.params_version == 3
    assert (params.proxy_delay_before_close, params.client_delay_before_close) == (100, 50)
    assert (params.min_proxy_stake, params.min_client_stake, params.price_per_token) == (3 * TON, 2 * TON, 40)
    assert params.proxy_code is not None and params.proxy_code.hash == code_hash("proxy")  # codes kept


def test_upgrade_contracts_and_own_code(net: Net) -> None:
    wallet = contract_code("wallet")
    body = m.UpgradeContracts(query_id=1, proxy_code=wallet, worker_code=wallet, client_code=wallet)
    assert failure(owner_op(net, body)) is None
    params = root(net).params
    assert (
        params.params_version == 2
        and params.client_code is not None
        and params.client_code.hash == wallet.hash
    )
    assert failure(owner_op(net, m.Upgrade(query_id=2, code=contract_code("root")))) is None
    assert net.chain.account(net.root).code.hash == code_hash("root")


def test_change_owner(net: Net) -> None:
    new_owner = addr("new-root-owner")
    assert failure(owner_op(net, m.ChangeOwner(query_id=1, new_owner=new_owner))) is None
    assert root(net).owner == new_owner
    assert failure(owner_op(net, m.Reset(query_id=2))) == ExitCode.EXPECTED_MESSAGE_FROM_OWNER
    assert failure(owner_op(net, m.Reset(query_id=2), src=new_owner)) is None


def test_root_returns_all_change(net: Net) -> None:
    before = net.chain.balance(net.root)
    owner_op(net, m.AddModelType(query_id=1, hash=MODEL))
    assert net.chain.balance(net.root) == before  # all change returned; storage paid by the caller
