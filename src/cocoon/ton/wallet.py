"""Node-wallet external messages (spec/contracts.md, "Node wallet").

::

    body = signature:bits512 | subwallet:uint32 valid_until:uint32 seqno:uint32 (mode:uint8 ^message)*

The signature covers the representation hash of the cell *after* the signature (the unsigned part).
At most 4 messages per external; each ``message`` is a full internal message cell (see
:func:`cocoon.ton.cells.internal_message`, with ``src=None``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, begin_cell, external_message, internal_message
from cocoon.ton.codec import expect_end
from cocoon.ton.signed import sign_cell

MAX_MESSAGES = 4


@dataclass(frozen=True)
class WalletTransfer:
    """One outgoing message of a wallet external: send ``message`` with ``mode``."""

    mode: int
    message: Cell


def transfer(
    dest: Address,
    value: int,
    body: Cell | None = None,
    *,
    bounce: bool = True,
    state_init: tuple[Cell, Cell] | None = None,
    mode: int = 3,
) -> WalletTransfer:
    """One wallet transfer (mode 3: pay fees separately, ignore errors, as node wallets send).

    Deploying a contract: ``transfer(address_of(init), DEPLOY_VALUE, bounce=False, state_init=init)``.
    """
    message = internal_message(
        src=None, dest=dest, value=value, body=body, bounce=bounce, state_init=state_init
    )
    return WalletTransfer(mode, message)


@dataclass(frozen=True)
class WalletExternal:
    """A parsed (or to-be-signed) wallet external body."""

    subwallet: int
    valid_until: int
    seqno: int
    transfers: tuple[WalletTransfer, ...]
    signature: bytes = b""

    def unsigned_cell(self) -> Cell:
        """The part the signature covers."""
        if len(self.transfers) > MAX_MESSAGES:
            raise ValueError(f"a wallet external carries at most {MAX_MESSAGES} messages")
        b = (
            begin_cell()
            .store_uint(self.subwallet, 32)
            .store_uint(self.valid_until, 32)
            .store_uint(self.seqno, 32)
        )
        for t in self.transfers:
            b.store_uint(t.mode, 8).store_ref(t.message)
        return b.end_cell()

    def signed_body(self, secret_key: bytes) -> Cell:
        """The full body: signature followed by the unsigned part."""
        unsigned = self.unsigned_cell()
        return begin_cell().store_bytes(sign_cell(secret_key, unsigned)).store_cell(unsigned).end_cell()

    @classmethod
    def from_cell(cls, body: Cell) -> WalletExternal:
        cs = body.begin_parse()
        try:
            signature = bytes(cs.load_bytes(64))
            subwallet, valid_until, seqno = cs.load_uint(32), cs.load_uint(32), cs.load_uint(32)
            transfers = []
            while cs.remaining_refs:
                transfers.append(WalletTransfer(cs.load_uint(8), cs.load_ref()))
        except Exception as exc:
            raise ChainDataError(f"wallet external: cannot decode ({exc})") from exc
        expect_end(cs, "wallet external")
        return cls(subwallet, valid_until, seqno, tuple(transfers), signature)


def wallet_external(
    secret_key: bytes,
    wallet: Address,
    *,
    seqno: int,
    valid_until: int,
    transfers: list[WalletTransfer],
    subwallet: int = 0,
    state_init: tuple[Cell, Cell] | None = None,
) -> Cell:
    """A complete signed external message to ``wallet`` (pass ``state_init`` to deploy it too)."""
    body = WalletExternal(subwallet, valid_until, seqno, tuple(transfers)).signed_body(secret_key)
    return external_message(wallet, body, state_init)
