"""LiteChain offline: a fake liteserver client replays BoCs recorded from the local chain
(``fixtures/record_lite.py``) as pytoniq objects, exactly as pytoniq's client would hand them over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytoniq_core import Address as PtAddress
from pytoniq_core import Cell as PtCell
from pytoniq_core import Slice
from pytoniq_core.tlb.account import ShardAccount
from pytoniq_core.tlb.transaction import Transaction as PtTransaction
from pytoniq_core.tlb.vm_stack import VmStack

from cocoon.chainsvc.lite import LiteChain
from cocoon.errors import ChainError, ContractError
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.tlb import transaction_from_boc

LITE = Path(__file__).parent / "fixtures" / "lite"
EXPECTED: dict[str, Any] = json.loads((LITE / "expected.json").read_text())


class RecordedLiteServer:
    """Answers like pytoniq's ``LiteClient`` from the recorded fixtures (newest-first paging, ``to_lt``)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Any] = {}
        self.txs: dict[str, list[Any]] = {}
        self.getters: dict[tuple[str, str], list[Any]] = {}
        self.sent: list[bytes] = []
        self.calls = 0
        for name, exp in EXPECTED.items():
            raw = exp["address"]
            self.accounts[raw] = ShardAccount.deserialize(
                Slice.one_from_boc((LITE / f"{name}.account.boc").read_bytes())
            )
            files = sorted(LITE.glob(f"{name}.tx*.boc"), key=lambda p: int(p.stem.split(".tx")[1]))
            self.txs[raw] = [PtTransaction.deserialize(Slice.one_from_boc(p.read_bytes())) for p in files][
                ::-1
            ]
            stack = Slice.one_from_boc((LITE / f"{name}.get.{exp['getter']}.boc").read_bytes())
            self.getters[(raw, exp["getter"])] = VmStack.deserialize(stack)

    @staticmethod
    def _raw(address: PtAddress) -> str:
        return address.to_str(is_user_friendly=False)

    async def raw_get_account_state(self, address: PtAddress) -> tuple[Any, Any]:
        sa = self.accounts.get(self._raw(address))
        return (None if sa is None else sa.account), sa

    async def get_transactions(
        self,
        address: PtAddress,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
        to_lt: int = 0,
    ) -> list[Any]:
        self.calls += 1
        txs = self.txs.get(self._raw(address), [])
        start = 0 if from_lt is None else next(i for i, t in enumerate(txs) if t.lt == from_lt)
        return [t for t in txs[start : start + count] if t.lt > to_lt]

    async def run_get_method(self, address: PtAddress, method: str | int, stack: list[Any]) -> list[Any]:
        found = self.getters.get((self._raw(address), str(method)))
        if found is None:

            class RunGetMethodError(Exception):
                exit_code = 11

            raise RunGetMethodError("exit code 11")
        return found

    async def raw_send_message(self, message: bytes) -> int:
        self.sent.append(message)
        return 1

    async def get_time(self) -> dict[str, int]:
        return {"now": 1_700_000_100}


@pytest.fixture
def server() -> RecordedLiteServer:
    return RecordedLiteServer()


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_account_state_parses_like_local_chain(server: RecordedLiteServer, name: str) -> None:
    exp = EXPECTED[name]
    chain: Chain = LiteChain(server)
    state = await chain.get_account(Address.parse(exp["address"]))
    assert (state.balance, state.status.value, state.last_lt) == (
        exp["balance"],
        exp["status"],
        exp["last_lt"],
    )
    assert state.code is not None and state.data is not None


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_transactions_parse_like_local_chain(server: RecordedLiteServer, name: str) -> None:
    exp = EXPECTED[name]
    address = Address.parse(exp["address"])
    txs = await LiteChain(server).get_transactions(address)
    assert [tx.lt for tx in txs] == exp["lts"]
    assert [tx.exit_code for tx in txs] == exp["exit_codes"]
    assert [tx.in_msg.op if tx.in_msg else None for tx in txs] == exp["in_ops"]
    files = sorted(LITE.glob(f"{name}.tx*.boc"), key=lambda p: int(p.stem.split(".tx")[1]))
    assert txs == [transaction_from_boc(p.read_bytes()) for p in files]


async def test_transactions_after_lt_and_limit(server: RecordedLiteServer) -> None:
    exp = EXPECTED["probe"]
    chain = LiteChain(server)
    address = Address.parse(exp["address"])
    assert [tx.lt for tx in await chain.get_transactions(address, after_lt=exp["lts"][1])] == exp["lts"][2:]
    assert [tx.lt for tx in await chain.get_transactions(address, limit=2)] == exp["lts"][:2]
    assert await chain.get_transactions(address, after_lt=exp["last_lt"]) == []


async def test_transactions_page_through_the_cursor(
    server: RecordedLiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cocoon.chainsvc.lite.PAGE", 1)
    exp = EXPECTED["probe"]
    txs = await LiteChain(server).get_transactions(Address.parse(exp["address"]))
    assert [tx.lt for tx in txs] == exp["lts"] and server.calls >= len(exp["lts"])


async def test_get_method_and_failure(server: RecordedLiteServer) -> None:
    exp = EXPECTED["wallet"]
    chain = LiteChain(server)
    address = Address.parse(exp["address"])
    assert await chain.run_get_method(address, exp["getter"]) == exp["getter_result"]
    with pytest.raises(ContractError) as err:
        await chain.run_get_method(address, "nope")
    assert err.value.exit_code == 11


async def test_nonexistent_account_send_and_time(server: RecordedLiteServer) -> None:
    chain = LiteChain(server)
    state = await chain.get_account(Address(0, b"\x05" * 32))
    assert state.status is AccountStatus.NONEXIST and state.balance == 0
    assert await chain.get_transactions(Address(0, b"\x05" * 32)) == []
    await chain.send_message(PtCell.empty())
    assert server.sent == [PtCell.empty().to_boc()]
    assert await chain.get_time() == 1_700_000_100


async def test_liteserver_failures_become_chain_errors() -> None:
    class Down(RecordedLiteServer):
        async def raw_get_account_state(self, address: PtAddress) -> tuple[Any, Any]:
            raise TimeoutError("no answer")

    with pytest.raises(ChainError, match="cannot read account"):
        await LiteChain(Down()).get_account(Address(0, bytes(32)))
