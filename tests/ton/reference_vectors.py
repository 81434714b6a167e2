"""Recorded public-network cells (``fixtures/reference``) and their known values, shared by the tests
(also tests/client's); `RecordedClient` is a chain holding the recorded client contract and `Recorder`
a wallet that only records what it would send, for long auth against the public network's contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytoniq_core.tlb.transaction import MessageAny

from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_from_boc
from cocoon.ton.chain import AccountState, AccountStatus
from cocoon.ton.ops import TON

FIXTURES = Path(__file__).parent / "fixtures" / "reference"

PUBLIC_ROOT = Address.parse("EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k")
ROOT_OWNER = Address.parse("EQDnlslXI2RtI1WhLmtelkb4CVQGxr8E_xSIjl0Hg79jNhNQ")
PROXY_CONTRACT = Address.parse("EQDTC4XYwcRwan5FEMmfQze48J6YaK8Ao3QiOsvHx83q0uPf")
PROXY_PUBLIC_KEY = bytes.fromhex("1cddc344e4ea001a119b6d27976e7056a29d6cc262d17bec92c8586cd3ab6fce")
CLIENT_OWNER = Address.parse("EQDJxdrlRruDA9KuV7nGNXAPVs8cTIS2fbyMx2BOWioB_hib")
CLIENT_CONTRACT = Address.parse("EQDGYwiPVGgHlxabHQNYVZeScSn1WwIfMySPNbeQ4kyjuBT3")
"""Destination of the recorded register message (also what the TS SDK's builders derive)."""
CLIENT_CODE_HASH = bytes.fromhex("b81f091aee4e88708650755a859cfa436d2c968726b85b0569911bb734dd77d3")


def cell(name: str) -> Cell:
    """The single-root cell of ``fixtures/reference/<name>.hex``."""
    return cell_from_boc(bytes.fromhex((FIXTURES / f"{name}.hex").read_text().strip()))


def wallet_message(name: str) -> MessageAny:
    """The internal message inside a recorded node-wallet external (signature, header, mode, ^msg)."""
    external = cell(name)
    assert len(external.refs) == 1, "a node-wallet external carries one message ref"
    return MessageAny.deserialize(external.refs[0].begin_parse())


def dest_of(msg: MessageAny) -> Address:
    """The destination of a pytoniq internal message as our Address."""
    return Address(msg.info.dest.wc, bytes(msg.info.dest.hash_part))


class RecordedClient:
    """A chain holding only the recorded client contract (``CLIENT_CONTRACT``), active."""

    async def get_account(self, address: Address) -> AccountState:
        assert address == CLIENT_CONTRACT
        return AccountState(address, 15 * TON, AccountStatus.ACTIVE, None, cell("client_data"), 1, b"")


class Recorder:
    """A wallet stand-in at ``address`` that records the messages it is asked to send."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.sent: list[tuple[Address, int, Cell | None]] = []

    async def send(self, dest: Address, value: int, body: Cell | None = None, **_: Any) -> None:
        self.sent.append((dest, value, body))
