"""Long auth's on-chain half (`ChainLongAuth`) on the local chain with our compiled contracts: the
client contract the proxy names is checked against the one derived from the root's code, deployed,
its secret hash synced, and ``owner_client_register(nonce)`` reaches the proxy's contract. For the
public network's contracts, the recorded mainnet cells (``tests/ton/fixtures/reference``) stand in."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from cocoon.chainsvc.local import LocalChain
from cocoon.chainsvc.local.aio import AsyncLocalChain
from cocoon.client.cocoon_register import ChainLongAuth, our_contracts, reference_contracts
from cocoon.errors import PaymentError
from cocoon.tl.types import ProxyParams
from cocoon.ton import data
from cocoon.ton import reference as ref
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell, cell_from_boc
from cocoon.ton.chain import AccountState, AccountStatus, Transaction
from cocoon.ton.ops import TON, Op
from cocoon.ton.params import make_params
from cocoon.ton.signed import public_key_of

PROXY_SECRET = b"\x07" * 32


def addr(tag: str) -> Address:
    return Address(0, hashlib.sha256(tag.encode()).digest())


class ChainSender:
    """A wallet stand-in: messages injected from ``address`` into the local chain, traces kept."""

    def __init__(self, chain: LocalChain, address: Address) -> None:
        self.chain, self.address = chain, address
        self.traces: list[list[Transaction]] = []

    async def send(
        self,
        dest: Address,
        value: int,
        body: Cell | None = None,
        *,
        state_init: tuple[Cell, Cell] | None = None,
        bounce: bool = True,
    ) -> None:
        self.traces.append(
            self.chain.send_internal(self.address, dest, value, body, bounce=bounce, state_init=state_init)
        )

    async def send_many(self, messages: Any) -> None:
        raise NotImplementedError


def network() -> tuple[LocalChain, Any, Address, ProxyParams]:
    chain = LocalChain(None, now=1_750_000_000)
    params = make_params(
        proxy_code=contract_code("proxy"),
        worker_code=contract_code("worker"),
        client_code=contract_code("client"),
    )
    key = int.from_bytes(public_key_of(PROXY_SECRET), "big")
    root = chain.deploy(*data.root_state_init(contract_code("root"), addr("root-owner"), params), TON)
    proxy = chain.deploy(*data.proxy_state_init(addr("proxy-owner"), key, root, params), 3 * TON // 10)
    proxy_params = ProxyParams(public_key_of(PROXY_SECRET), addr("proxy-owner").raw, proxy.raw, False, 4)
    return chain, params, proxy, proxy_params


async def test_register_deploys_syncs_the_secret_and_notifies_the_proxy_contract() -> None:
    chain, params, proxy, proxy_params = network()
    sender = ChainSender(chain, addr("client-owner"))
    auth = ChainLongAuth(AsyncLocalChain(chain), sender, our_contracts(params), secret=b"s3cret")  # type: ignore[arg-type]
    ours = data.address_of(
        data.client_state_init(
            sender.address, proxy, int.from_bytes(proxy_params.proxy_public_key, "big"), params
        )
    )
    await auth.register(proxy_params, ours.friendly(bounceable=True), nonce=-5)  # a TL long: any sign
    state = chain.account(ours)
    assert state.status is AccountStatus.ACTIVE and state.data is not None
    client = data.ClientData.from_cell(state.data)
    assert client.secret_hash == int.from_bytes(hashlib.sha256(b"s3cret").digest(), "big")
    assert client.balance >= params.min_client_stake
    register = sender.traces[-1]
    notes = [m for tx in register for m in tx.out_msgs if m.dest == proxy and m.op == Op.CLIENT_PROXY_REQUEST]
    assert notes and all(tx.success for tx in register)
    assert auth.registrations == 1


async def test_a_client_contract_that_is_not_ours_is_refused_before_any_message() -> None:
    chain, params, _, proxy_params = network()
    sender = ChainSender(chain, addr("client-owner"))
    auth = ChainLongAuth(AsyncLocalChain(chain), sender, our_contracts(params))  # type: ignore[arg-type]
    with pytest.raises(PaymentError, match="refusing to pay into it"):
        await auth.register(proxy_params, addr("someone-else").raw, nonce=1)
    assert sender.traces == []


REFERENCE_CELLS = Path(__file__).resolve().parents[1] / "ton" / "fixtures" / "reference"
PUBLIC_PROXY = Address.parse("EQDTC4XYwcRwan5FEMmfQze48J6YaK8Ao3QiOsvHx83q0uPf")
PUBLIC_PROXY_KEY = bytes.fromhex("1cddc344e4ea001a119b6d27976e7056a29d6cc262d17bec92c8586cd3ab6fce")
PUBLIC_CLIENT_OWNER = Address.parse("EQDJxdrlRruDA9KuV7nGNXAPVs8cTIS2fbyMx2BOWioB_hib")
PUBLIC_CLIENT = Address.parse("EQDGYwiPVGgHlxabHQNYVZeScSn1WwIfMySPNbeQ4kyjuBT3")


def recorded(name: str) -> Cell:
    return cell_from_boc(bytes.fromhex((REFERENCE_CELLS / f"{name}.hex").read_text().strip()))


class RecordedChain:
    """The recorded public client contract, active, as the only account there is."""

    async def get_account(self, address: Address) -> AccountState:
        assert address == PUBLIC_CLIENT
        return AccountState(address, 15 * TON, AccountStatus.ACTIVE, None, recorded("client_data"), 1, b"")


class Recorder:
    def __init__(self, address: Address) -> None:
        self.address = address
        self.sent: list[tuple[Address, int, Cell | None]] = []

    async def send(self, dest: Address, value: int, body: Cell | None = None, **_: Any) -> None:
        self.sent.append((dest, value, body))


async def test_the_public_networks_client_contract_is_derived_from_its_root_and_registered() -> None:
    root = ref.parse_reference_root(recorded("root_data_v4"))
    sender = Recorder(PUBLIC_CLIENT_OWNER)
    auth = ChainLongAuth(RecordedChain(), sender, reference_contracts(root))  # type: ignore[arg-type]
    proxy = ProxyParams(PUBLIC_PROXY_KEY, PUBLIC_CLIENT_OWNER.raw, PUBLIC_PROXY.friendly(), False, 4)
    await auth.register(proxy, PUBLIC_CLIENT.friendly(), nonce=1234)
    # Deployed, the empty secret's hash stored, balance = stake: only the register message goes out.
    [(dest, value, body)] = sender.sent
    assert dest == PUBLIC_CLIENT and value == TON and body is not None
    cs = body.begin_parse()
    assert (cs.load_uint(32), cs.load_uint(64), cs.load_uint(64)) == (Op.OWNER_CLIENT_REGISTER, 1, 1234)


async def test_keep_funded_tops_up_only_when_the_uncharged_use_leaves_under_half_a_stake() -> None:
    chain, params, proxy, proxy_params = network()
    sender = ChainSender(chain, addr("client-owner"))
    auth = ChainLongAuth(AsyncLocalChain(chain), sender, our_contracts(params))  # type: ignore[arg-type]
    key = int.from_bytes(proxy_params.proxy_public_key, "big")
    ours = data.address_of(data.client_state_init(sender.address, proxy, key, params)).raw
    await auth.register(proxy_params, ours, nonce=1)
    state = chain.account(Address.parse(ours))
    assert state.data is not None
    before = data.ClientData.from_cell(state.data)
    sent = len(sender.traces)
    spare = (
        before.balance - before.stake // 2
    ) // params.price_per_token  # tokens until half a stake is left
    assert not await auth.keep_funded(ours, used_tokens=spare - 1)
    assert len(sender.traces) == sent
    assert await auth.keep_funded(ours, used_tokens=spare + 1)
    state = chain.account(Address.parse(ours))
    assert state.data is not None
    assert data.ClientData.from_cell(state.data).balance == before.balance + params.min_client_stake
    assert auth.top_ups == 1
