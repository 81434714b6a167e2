"""The reference root's params cell, ``struct_version`` 0 to 5 (the public network's layout).

Fields appear by version, as the reference runners read them (``RootContractConfig.cpp``): the four
price multipliers from v2/v3, the minimum stakes from v1; v4 and v5 add nothing here (their extra
cells hang off the root's data, :mod:`cocoon.ton.reference.root`). Absent fields take the reference's
defaults (multiplier 10000 = 1.0x, stake 1 TON).

The params cell is part of every proxy/worker/client contract's initial data, with a *code mask*
(root: all three codes, proxy: worker+client, worker and client: none), so its exact bits decide the
contract addresses: :meth:`RefParams.to_cell` writes them exactly as the reference does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from cocoon.errors import ChainDataError
from cocoon.ton.cells import Cell, Slice, begin_cell
from cocoon.ton.ops import TON
from cocoon.ton.params import CodeMask

MAX_STRUCT_VERSION = 5
"""The newest params version the reference runners read (April 2026)."""
DEFAULT_MULTIPLIER = 10_000
DEFAULT_MIN_STAKE = TON

_T = TypeVar("_T")


def read_field(what: str, name: str, load: Callable[[], _T]) -> _T:
    """Run ``load``; any failure becomes a :class:`ChainDataError` naming ``what.name``."""
    try:
        return load()
    except ChainDataError:
        raise
    except Exception as exc:  # pytoniq raises bare exceptions of many kinds
        raise ChainDataError(f"{what}: cannot read field {name!r} ({exc or type(exc).__name__})") from exc


def expect_end(cs: Slice, what: str) -> None:
    """The reference refuses cells with bits or refs left over ("extra data in ...")."""
    if cs.remaining_bits or cs.remaining_refs:
        raise ChainDataError(
            f"{what}: {cs.remaining_bits} bits and {cs.remaining_refs} refs of extra data after the "
            "last field; the contract layout is newer than this reader"
        )


@dataclass(frozen=True)
class RefParams:
    """Network parameters as the reference root stores them. Money is nanoTON; multipliers 1e4 = 1.0x."""

    struct_version: int
    params_version: int
    unique_id: int
    is_test: bool
    price_per_token: int
    worker_fee_per_token: int
    proxy_delay_before_close: int
    client_delay_before_close: int
    prompt_mult: int = DEFAULT_MULTIPLIER
    cached_mult: int = DEFAULT_MULTIPLIER
    completion_mult: int = DEFAULT_MULTIPLIER
    reasoning_mult: int = DEFAULT_MULTIPLIER
    min_proxy_stake: int = DEFAULT_MIN_STAKE
    min_client_stake: int = DEFAULT_MIN_STAKE
    proxy_code: Cell | None = None
    worker_code: Cell | None = None
    client_code: Cell | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.struct_version <= MAX_STRUCT_VERSION:
            raise ChainDataError(
                f"params struct_version {self.struct_version} is not 0..{MAX_STRUCT_VERSION}"
            )

    def masked(self, mask: CodeMask) -> RefParams:
        """The same params keeping only the codes ``mask`` allows."""
        keep_proxy, keep_worker, keep_client = mask.value
        return replace(
            self,
            proxy_code=self.proxy_code if keep_proxy else None,
            worker_code=self.worker_code if keep_worker else None,
            client_code=self.client_code if keep_client else None,
        )

    def to_cell(self, mask: CodeMask = CodeMask.ROOT) -> Cell:
        """The params cell as a contract of kind ``mask`` stores it (root, proxy, or none)."""
        p = self.masked(mask)
        sv = p.struct_version
        b = begin_cell().store_uint(sv, 8).store_uint(p.params_version, 32)
        b.store_uint(p.unique_id, 32).store_bit(int(p.is_test))
        b.store_coins(p.price_per_token).store_coins(p.worker_fee_per_token)
        if sv >= 3:
            b.store_uint(p.prompt_mult, 32)
        if sv >= 2:
            b.store_uint(p.cached_mult, 32)
        if sv >= 3:
            b.store_uint(p.completion_mult, 32)
        if sv >= 2:
            b.store_uint(p.reasoning_mult, 32)
        b.store_uint(p.proxy_delay_before_close, 32).store_uint(p.client_delay_before_close, 32)
        if sv >= 1:
            b.store_coins(p.min_proxy_stake).store_coins(p.min_client_stake)
        b.store_maybe_ref(p.proxy_code).store_maybe_ref(p.worker_code).store_maybe_ref(p.client_code)
        cell: Cell = b.end_cell()
        return cell

    @classmethod
    def from_cell(cls, cell: Cell) -> RefParams:
        """Parse a params cell of any supported version, strictly (nothing may be left over)."""
        what = "reference root params"
        cs = cell.begin_parse()
        sv = read_field(what, "struct_version", lambda: int(cs.load_uint(8)))
        if sv > MAX_STRUCT_VERSION:
            raise ChainDataError(
                f"{what}: struct_version {sv} is newer than {MAX_STRUCT_VERSION}; "
                "this reader does not know its layout"
            )

        def u32(name: str) -> int:
            return read_field(what, name, lambda: int(cs.load_uint(32)))

        def coins(name: str) -> int:
            return read_field(what, name, lambda: int(cs.load_coins()))

        params_version, unique_id = u32("params_version"), u32("unique_id")
        is_test = read_field(what, "is_test", lambda: bool(cs.load_bit()))
        price, fee = coins("price_per_token"), coins("worker_fee_per_token")
        prompt = u32("prompt_mult") if sv >= 3 else DEFAULT_MULTIPLIER
        cached = u32("cached_mult") if sv >= 2 else DEFAULT_MULTIPLIER
        completion = u32("completion_mult") if sv >= 3 else DEFAULT_MULTIPLIER
        reasoning = u32("reasoning_mult") if sv >= 2 else DEFAULT_MULTIPLIER
        proxy_delay, client_delay = u32("proxy_delay_before_close"), u32("client_delay_before_close")
        min_proxy = coins("min_proxy_stake") if sv >= 1 else DEFAULT_MIN_STAKE
        min_client = coins("min_client_stake") if sv >= 1 else DEFAULT_MIN_STAKE
        codes = [
            read_field(what, name, cs.load_maybe_ref) for name in ("proxy_code", "worker_code", "client_code")
        ]
        expect_end(cs, what)
        return cls(
            struct_version=sv,
            params_version=params_version,
            unique_id=unique_id,
            is_test=is_test,
            price_per_token=price,
            worker_fee_per_token=fee,
            proxy_delay_before_close=proxy_delay,
            client_delay_before_close=client_delay,
            prompt_mult=prompt,
            cached_mult=cached,
            completion_mult=completion,
            reasoning_mult=reasoning,
            min_proxy_stake=min_proxy,
            min_client_stake=min_client,
            proxy_code=codes[0],
            worker_code=codes[1],
            client_code=codes[2],
        )
