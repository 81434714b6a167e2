"""TON account addresses as a small typed value.

pytoniq-core's ``Address`` is untyped and mutable-ish; the rest of the project uses this frozen,
hashable value instead and converts at the cell boundary (:mod:`cocoon.ton.cells`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cocoon.errors import ChainDataError

_BOUNCEABLE_TAG = 0x11
_NON_BOUNCEABLE_TAG = 0x51
_TESTNET_FLAG = 0x80


def crc16(data: bytes) -> int:
    """CRC16-XMODEM, the checksum of user-friendly addresses."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


@dataclass(frozen=True, order=True)
class Address:
    """A standard internal address: ``workchain:hash_part`` (no anycast)."""

    workchain: int
    hash_part: bytes

    def __post_init__(self) -> None:
        if len(self.hash_part) != 32:
            raise ChainDataError(f"address hash must be 32 bytes, got {len(self.hash_part)}")
        if not -128 <= self.workchain <= 127:
            raise ChainDataError(f"workchain {self.workchain} is out of int8 range")

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse the raw form ``0:<64 hex>`` or a 48-character user-friendly form."""
        text = text.strip()
        if ":" in text:
            wc, _, hex_part = text.partition(":")
            try:
                return cls(int(wc), bytes.fromhex(hex_part))
            except ValueError as exc:
                raise ChainDataError(f"bad raw address {text!r}; expected 0:<64 hex digits>") from exc
        return cls._parse_friendly(text)

    @classmethod
    def _parse_friendly(cls, text: str) -> Address:
        try:
            raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
        except (binascii.Error, ValueError) as exc:
            raise ChainDataError(f"bad address {text!r}; expected raw 0:<hex> or base64 form") from exc
        if len(raw) != 36 or crc16(raw[:34]) != int.from_bytes(raw[34:], "big"):
            raise ChainDataError(f"bad address {text!r}: wrong length or checksum")
        workchain = raw[1] - 256 if raw[1] > 127 else raw[1]
        return cls(workchain, raw[2:34])

    @property
    def raw(self) -> str:
        """The raw form ``wc:hex`` (what toncenter's raw API and our logs use)."""
        return f"{self.workchain}:{self.hash_part.hex()}"

    def friendly(self, *, bounceable: bool = True, testnet: bool = False) -> str:
        """User-friendly url-safe base64 form (what wallets show)."""
        tag = _BOUNCEABLE_TAG if bounceable else _NON_BOUNCEABLE_TAG
        if testnet:
            tag |= _TESTNET_FLAG
        body = bytes([tag, self.workchain & 0xFF]) + self.hash_part
        return base64.urlsafe_b64encode(body + crc16(body).to_bytes(2, "big")).decode()

    def __str__(self) -> str:
        return self.raw


def is_test_only(text: str) -> bool:
    """Whether ``text`` is a user-friendly address with the test-only flag (what a TON testnet wallet
    shows); False for the raw form and for text that is no address at all."""
    text = text.strip()
    if ":" in text:
        return False
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 36 or crc16(raw[:34]) != int.from_bytes(raw[34:], "big"):
        return False
    return bool(raw[0] & _TESTNET_FLAG)


def wrong_network(text: str, *, testnet: bool, what: str = "address") -> str | None:
    """Why ``text`` (a user-friendly address flagged for the other network) must be refused on mainnet
    or, with ``testnet``, on a testnet; None when its flag fits or it has none (the raw ``0:<hex>``
    form, or text that is no address: parsing reports that)."""
    text = text.strip()
    try:
        address = Address.parse(text)
    except ChainDataError:
        return None
    if ":" in text or is_test_only(text) == testnet:
        return None
    if testnet:
        return (
            f"{what} {text} is a mainnet address but the chain is a testnet (testnet = true, --testnet); "
            f"give its testnet form {address.friendly(testnet=True)} or the raw form {address.raw}"
        )
    return (
        f"{what} {text} is a testnet address but the chain is mainnet; on a testnet set testnet = true "
        f"(--testnet), else give its mainnet form {address.friendly()}"
    )


def parse_on(text: str, *, testnet: bool, what: str = "address") -> Address:
    """Parse an address a person typed for a node on mainnet or, with ``testnet``, on a testnet.

    A user-friendly address carries a testnet flag (what a TON wallet shows); one flagged for the other
    network is refused (ChainDataError), because TON sent from the wrong network's wallet is easily
    lost. The raw form ``0:<hex>`` carries no flag and is accepted on both.
    """
    why = wrong_network(text, testnet=testnet, what=what)
    if why is not None:
        raise ChainDataError(why)
    return Address.parse(text)


def show(address: Address, *, testnet: bool, bounceable: bool = True) -> str:
    """The user-friendly form to print for a node on mainnet or a testnet (the testnet flag set)."""
    return address.friendly(bounceable=bounceable, testnet=testnet)
