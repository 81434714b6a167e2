"""Node wallet on the local chain: signed externals (expiry, seqno, subwallet, 4 messages, 2-TON floor)
and its owner's internal controls."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from contract_env import START, addr, as_address, failure, messages_to

from cocoon.chainsvc.local import LocalChain
from cocoon.errors import ContractError
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import internal_message, text_cell
from cocoon.ton.chain import Transaction
from cocoon.ton.data import WalletData, address_of, wallet_state_init
from cocoon.ton.ops import TON, ExitCode
from cocoon.ton.signed import public_key_of
from cocoon.ton.wallet import WalletTransfer, wallet_external

SECRET = b"\x05" * 32
OWNER, PAYEE = addr("wallet-owner"), addr("payee")


@dataclass
class Wallet:
    chain: LocalChain
    address: Address

    def external(self, transfers: list[WalletTransfer], **kw: int) -> list[Transaction]:
        seqno = kw.pop("seqno", WalletData.from_cell(self.chain.account(self.address).data).seqno)
        args = {"valid_until": self.chain.now + 60, "subwallet": 3, **kw}
        secret = SECRET if kw.get("bad_key") is None else b"\x06" * 32
        args.pop("bad_key", None)
        msg = wallet_external(secret, self.address, seqno=seqno, transfers=transfers, **args)
        return self.chain.send_external(msg)

    def rejected(self, transfers: list[WalletTransfer], **kw: int) -> int:
        with pytest.raises(ContractError) as info:
            self.external(transfers, **kw)
        return info.value.exit_code

    def internal(self, src: Address, body: object) -> list[Transaction]:
        return self.chain.send_internal(src, self.address, TON // 10, body)  # type: ignore[arg-type]

    @property
    def data(self) -> WalletData:
        return WalletData.from_cell(self.chain.account(self.address).data)


@pytest.fixture
def wallet() -> Wallet:
    chain = LocalChain(None, now=START)
    key = int.from_bytes(public_key_of(SECRET), "big")
    init = wallet_state_init(contract_code("wallet"), key, OWNER, subwallet=3)
    address = chain.deploy(*init, 5 * TON)
    assert address == address_of(init)
    return Wallet(chain, address)


def pay(amount: int, dest: Address = PAYEE, mode: int = 1) -> WalletTransfer:
    return WalletTransfer(mode, internal_message(src=None, dest=dest, value=amount, bounce=False))


def test_getters(wallet: Wallet) -> None:
    chain, a = wallet.chain, wallet.address
    assert chain.run_get_method(a, "seqno") == [0]
    assert chain.run_get_method(a, "get_subwallet_id") == [3]
    assert chain.run_get_method(a, "get_public_key") == [int.from_bytes(public_key_of(SECRET), "big")]
    assert as_address(chain.run_get_method(a, "get_owner_address")[0]) == OWNER


def test_sends_up_to_four_messages_and_bumps_seqno(wallet: Wallet) -> None:
    trace = wallet.external([pay(TON // 10 + i) for i in range(4)])
    assert failure(trace) is None
    assert sorted(msg.value for msg in messages_to(trace, PAYEE)) == [TON // 10 + i for i in range(4)]
    assert wallet.data.seqno == 1
    # a cell has at most 4 references, so a fifth message cannot even be expressed
    with pytest.raises(ValueError, match="at most 4"):
        wallet.external([pay(1)] * 5)


def test_replay_wrong_seqno_subwallet_expiry_and_signature(wallet: Wallet) -> None:
    assert failure(wallet.external([pay(TON // 10)])) is None
    assert wallet.rejected([pay(TON // 10)], seqno=0) == ExitCode.WALLET_SEQNO
    assert wallet.rejected([pay(TON // 10)], seqno=5) == ExitCode.WALLET_SEQNO
    assert wallet.rejected([pay(TON // 10)], subwallet=4) == ExitCode.WALLET_SUBWALLET
    assert wallet.rejected([pay(TON // 10)], valid_until=wallet.chain.now) == ExitCode.WALLET_EXPIRED
    assert wallet.rejected([pay(TON // 10)], bad_key=1) == ExitCode.WALLET_BAD_SIGNATURE
    assert wallet.data.seqno == 1


def test_refuses_to_send_below_two_ton(wallet: Wallet) -> None:
    assert failure(wallet.external([pay(3 * TON)])) is None  # 5 TON -> about 2 TON left
    assert wallet.chain.balance(wallet.address) < 2 * TON
    assert wallet.rejected([pay(TON // 10)]) == ExitCode.WALLET_LOW_BALANCE


def test_owner_controls_block_unblock_withdraw_and_send(wallet: Wallet) -> None:
    assert failure(wallet.internal(PAYEE, text_cell("b"))) == ExitCode.WALLET_NOT_OWNER
    assert failure(wallet.internal(OWNER, text_cell("z"))) == ExitCode.WALLET_BAD_TEXT_COMMAND
    assert failure(wallet.internal(OWNER, text_cell("b"))) is None
    assert wallet.data.status == 1
    assert wallet.rejected([pay(TON // 10)]) == ExitCode.WALLET_BLOCKED
    assert failure(wallet.internal(OWNER, text_cell("u"))) is None
    assert failure(wallet.external([pay(TON // 10)])) is None
    send = m.OwnerWalletSendMessage(query_id=1, mode=1, message=pay(TON // 5).message)
    assert failure(wallet.internal(PAYEE, send.to_cell())) == ExitCode.WALLET_NOT_OWNER
    trace = wallet.internal(OWNER, send.to_cell())
    assert [msg.value for msg in messages_to(trace, PAYEE)] == [TON // 5]
    trace = wallet.internal(OWNER, text_cell("w"))
    assert failure(trace) is None and wallet.chain.balance(wallet.address) == 0
    assert sum(msg.value for msg in messages_to(trace, OWNER)) > 4 * TON


def test_replies_from_contracts_are_simply_received(wallet: Wallet) -> None:
    before = wallet.chain.balance(wallet.address)
    excesses = m.Excesses(query_id=9).to_cell()
    trace = wallet.chain.send_internal(PAYEE, wallet.address, TON, excesses)
    assert failure(trace) is None
    assert wallet.chain.balance(wallet.address) > before
