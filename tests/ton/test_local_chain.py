"""LocalChain: real transactions on the emulator, traces, bounces, externals, getters, clock, persistence.

The contract under test is ``fixtures/probe.fc`` (a tiny FunC contract made for these tests) and the
node wallet from the compiled artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cocoon.chainsvc.local import FAUCET, AsyncLocalChain, LocalChain
from cocoon.chainsvc.watch import poll
from cocoon.errors import ChainError, ContractError
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell, begin_cell, cell_from_boc, external_message, internal_message
from cocoon.ton.chain import AccountStatus, Chain, first_failure, raise_on_failure
from cocoon.ton.data import WalletData, address_of, wallet_state_init
from cocoon.ton.messages import SaveState
from cocoon.ton.ops import TON, ExitCode
from cocoon.ton.parse import Bounced
from cocoon.ton.signed import public_key_of
from cocoon.ton.wallet import WalletTransfer, transfer, wallet_external
from cocoon.ton.watch import TxCursor

T0 = 1_700_000_000
PROBE = cell_from_boc((Path(__file__).parent / "fixtures" / "probe.boc").read_bytes())
ALICE = Address(0, b"\xa1" * 32)
NOWHERE = Address(0, b"\x0e" * 32)


def probe_data(seqno: int = 0, counter: int = 0) -> Cell:
    return begin_cell().store_uint(seqno, 32).store_uint(counter, 64).end_cell()


def op(code: int, *fields: tuple[int, int]) -> Cell:
    b = begin_cell().store_uint(code, 32)
    for value, bits in fields:
        b.store_uint(value, bits)
    return b.end_cell()


@pytest.fixture
def chain() -> LocalChain:
    return LocalChain(now=T0)


@pytest.fixture
def probe(chain: LocalChain) -> Address:
    return chain.deploy(PROBE, probe_data(), TON)


def test_faucet_creates_uninit_account_with_exact_balance(chain: LocalChain) -> None:
    trace = chain.fund(ALICE, 3 * TON)
    assert len(trace) == 1 and trace[0].compute_skipped and trace[0].success
    state = chain.account(ALICE)
    assert (state.status, state.balance) == (AccountStatus.UNINIT, 3 * TON)
    assert chain.transactions(ALICE)[0].hash == trace[0].hash


def test_deploy_makes_active_contract_and_pays_fees(chain: LocalChain, probe: Address) -> None:
    state = chain.account(probe)
    assert state.status is AccountStatus.ACTIVE and state.code == PROBE
    assert 0 < TON - state.balance < TON // 100  # the deploy's gas was paid from the value


def test_contract_call_changes_state_and_getter_reads_it(chain: LocalChain, probe: Address) -> None:
    raise_on_failure(chain.send_internal(FAUCET, probe, TON, op(3, (41, 64))))
    raise_on_failure(chain.send_internal(FAUCET, probe, TON, op(3, (1, 64))))
    assert chain.run_get_method(probe, "counter") == [42]
    assert chain.run_get_method(probe, "seqno") == [0]


def test_unknown_getter_raises_contract_error(chain: LocalChain, probe: Address) -> None:
    with pytest.raises(ContractError) as err:
        chain.run_get_method(probe, "no_such_method")
    assert err.value.exit_code == 11


def test_echo_trace_is_breadth_first_with_increasing_lt(chain: LocalChain, probe: Address) -> None:
    chain.fund(ALICE, TON)
    trace = chain.send_internal(ALICE, probe, 2 * TON, op(1))
    assert [tx.account for tx in trace] == [probe, ALICE]
    assert trace[0].lt < trace[1].lt
    returned = trace[1].in_msg
    assert returned is not None and returned.src == probe and 0 < 2 * TON - returned.value < TON // 100
    assert chain.balance(ALICE) == TON + returned.value


def test_throw_bounces_value_back_and_trace_reports_exit_code(chain: LocalChain, probe: Address) -> None:
    trace = chain.send_internal(ALICE, probe, TON, op(2, (777, 16)), bounce=True)
    assert [tx.account for tx in trace] == [probe, ALICE]
    assert trace[0].exit_code == 777 and not trace[0].success
    assert "exit code 777" in chain.last_vm_logs[0] and len(chain.last_vm_logs) == len(trace)
    bounce = trace[1].in_msg
    assert (
        bounce is not None and bounce.bounced and bounce.parsed == Bounced(2, None)
    )  # probe has no query_id
    assert 0 < TON - chain.balance(ALICE) < TON // 100
    failed = first_failure(trace)
    assert failed is not None and failed.account == probe
    with pytest.raises(ContractError) as err:
        raise_on_failure(trace)
    assert err.value.exit_code == 777


def test_non_bounceable_failure_keeps_the_value(chain: LocalChain, probe: Address) -> None:
    before = chain.balance(probe)
    trace = chain.send_internal(ALICE, probe, TON, op(2, (500, 16)), bounce=False)
    assert len(trace) == 1 and trace[0].exit_code == 500
    assert chain.balance(probe) > before + TON * 9 // 10


def test_bounceable_message_to_nonexistent_address_comes_back(chain: LocalChain, probe: Address) -> None:
    body = begin_cell().store_uint(4, 32).store_address(NOWHERE.raw).end_cell()
    trace = chain.send_internal(FAUCET, probe, TON, body, bounce=False)
    assert [tx.account for tx in trace] == [probe, NOWHERE, probe]
    assert trace[1].compute_skipped and trace[2].in_msg is not None and trace[2].in_msg.bounced
    assert chain.account(NOWHERE).status is AccountStatus.NONEXIST


def test_external_accepted_then_replay_rejected(chain: LocalChain, probe: Address) -> None:
    trace = chain.send_external_body(probe, op(0))
    assert trace[0].in_msg is not None and trace[0].in_msg.external and trace[0].success
    with pytest.raises(ContractError) as err:
        chain.send_external_body(probe, op(0))
    assert err.value.exit_code == 33
    assert chain.run_get_method(probe, "seqno") == [1]


def test_clock_moves_forward_only_and_stamps_transactions(chain: LocalChain) -> None:
    chain.advance(100)
    assert chain.fund(ALICE, 1)[0].now == T0 + 100
    with pytest.raises(ChainError):
        chain.set_time(T0)


def test_transactions_after_lt_pages_oldest_first(chain: LocalChain) -> None:
    lts = [chain.fund(ALICE, n + 1)[0].lt for n in range(5)]
    assert [tx.lt for tx in chain.transactions(ALICE)] == lts
    assert [tx.lt for tx in chain.transactions(ALICE, after_lt=lts[1], limit=2)] == lts[2:4]


def test_state_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "chain.db"
    first = LocalChain(db, now=T0)
    probe = first.deploy(PROBE, probe_data(), TON)
    first.send_internal(FAUCET, probe, TON, op(3, (5, 64)))
    first.advance(60)
    balance, txs = first.balance(probe), first.transactions(probe)
    first.close()
    second = LocalChain(db, now=T0)
    assert second.now == T0 + 60
    assert second.balance(probe) == balance and second.transactions(probe) == txs
    assert second.run_get_method(probe, "counter") == [5]
    later = second.send_internal(FAUCET, probe, TON, op(3, (1, 64)))
    assert later[0].lt > txs[-1].lt
    second.close()


def _wallet(chain: LocalChain, secret: bytes) -> tuple[Address, tuple[Cell, Cell]]:
    init = wallet_state_init(contract_code("wallet"), int.from_bytes(public_key_of(secret), "big"), ALICE)
    return address_of(init), init


def test_node_wallet_deploys_by_external_and_sends(chain: LocalChain) -> None:
    secret = os.urandom(32)
    wallet, init = _wallet(chain, secret)
    chain.fund(wallet, 5 * TON)
    pay = internal_message(src=None, dest=NOWHERE, value=TON, bounce=False)
    ext = wallet_external(
        secret, wallet, seqno=0, valid_until=T0 + 60, transfers=[WalletTransfer(3, pay)], state_init=init
    )
    trace = raise_on_failure(chain.send_external(ext))
    assert [tx.account for tx in trace] == [wallet, NOWHERE]
    assert chain.balance(NOWHERE) == TON
    state = chain.account(wallet)
    assert state.data is not None and WalletData.from_cell(state.data).seqno == 1
    assert chain.run_get_method(wallet, "seqno") == [1]


def test_node_wallet_rejects_stale_seqno(chain: LocalChain) -> None:
    secret = os.urandom(32)
    wallet, init = _wallet(chain, secret)
    chain.fund(wallet, 5 * TON)
    chain.send_external(
        wallet_external(secret, wallet, seqno=0, valid_until=T0 + 60, transfers=[], state_init=init)
    )
    with pytest.raises(ContractError) as err:
        chain.send_external(wallet_external(secret, wallet, seqno=0, valid_until=T0 + 60, transfers=[]))
    assert err.value.exit_code == ExitCode.WALLET_SEQNO


async def test_async_wrapper_implements_chain(chain: LocalChain, probe: Address) -> None:
    async_chain: Chain = AsyncLocalChain(chain)
    await async_chain.send_message(external_message(probe, op(0)))
    assert await async_chain.run_get_method(probe, "seqno") == [1]
    assert (await async_chain.get_account(probe)).status is AccountStatus.ACTIVE
    txs = await async_chain.get_transactions(probe, after_lt=0)
    assert txs[-1].in_msg is not None and txs[-1].in_msg.external
    assert await async_chain.get_time() == T0


def test_one_nanoton_note_is_recorded_with_compute_skipped(chain: LocalChain, probe: Address) -> None:
    note = SaveState.make(query_id=1, seqno=5, session_hash=b"h" * 32)
    trace = chain.send_internal(FAUCET, probe, 1, note.to_cell())
    assert len(trace) == 1 and trace[0].compute_skipped and trace[0].success
    recorded = chain.transactions(probe)[-1].in_msg
    assert recorded is not None and recorded.parsed == note


def test_second_process_cannot_open_the_same_chain(tmp_path: Path) -> None:
    first = LocalChain(tmp_path / "chain.db", now=T0)
    with pytest.raises(ChainError, match="another process"):
        LocalChain(tmp_path / "chain.db", now=T0)
    first.close()
    LocalChain(tmp_path / "chain.db", now=T0).close()  # the lock is released on close


async def test_watch_cursor_sees_each_transaction_once(chain: LocalChain) -> None:
    cursor = TxCursor(ALICE)
    async_chain = AsyncLocalChain(chain)
    assert await poll(async_chain, cursor) == []
    lts = [chain.fund(ALICE, n + 1)[0].lt for n in range(5)]
    assert [tx.lt for tx in await poll(async_chain, cursor, page=2)] == lts
    assert await poll(async_chain, cursor) == [] and cursor.last_lt == lts[-1]
    chain.fund(ALICE, 9)
    assert [tx.in_msg.value for tx in await poll(async_chain, cursor) if tx.in_msg] == [9]


def test_bounce_from_an_address_without_code_is_a_failure(chain: LocalChain) -> None:
    trace = chain.send_internal(ALICE, NOWHERE, TON, op(3, (1, 64)), bounce=True)
    assert trace[0].compute_skipped and trace[0].bounced_back
    with pytest.raises(ContractError) as err:
        raise_on_failure(trace)
    assert err.value.exit_code == -1
    assert chain.fund(NOWHERE, TON)[0].success  # non-bounceable: the value stays, no failure


def test_wallet_deploys_a_contract_with_a_transfer(chain: LocalChain) -> None:
    secret = os.urandom(32)
    wallet, init = _wallet(chain, secret)
    chain.fund(wallet, 5 * TON)
    probe_init = (PROBE, probe_data(counter=3))
    target = address_of(probe_init)
    deploy = transfer(target, TON // 2, bounce=False, state_init=probe_init)
    ext = wallet_external(secret, wallet, seqno=0, valid_until=T0 + 60, transfers=[deploy], state_init=init)
    raise_on_failure(chain.send_external(ext))
    assert chain.account(target).status is AccountStatus.ACTIVE
    assert chain.run_get_method(target, "counter") == [3]


def test_a_failed_trace_changes_nothing(tmp_path: Path) -> None:
    chain = LocalChain(tmp_path / "chain.db", now=T0, trace_limit=1)
    probe = chain.deploy(PROBE, probe_data(), TON)
    before = (chain.account(probe), chain.transactions(probe))
    with pytest.raises(ChainError, match="exceeded 1 transactions"):
        chain.send_internal(ALICE, probe, TON, op(1))  # the echo needs a second transaction
    assert (chain.account(probe), chain.transactions(probe)) == before
    assert chain.account(ALICE).status is AccountStatus.NONEXIST
    chain.close()
    reopened = LocalChain(tmp_path / "chain.db", now=T0)
    assert (reopened.account(probe), reopened.transactions(probe)) == before
    reopened.close()
