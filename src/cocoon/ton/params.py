"""The params cell shared by every COCOON contract (struct version 3, spec/contracts.md).

Each contract stores the params with a different *code mask*: the root keeps all three codes, a proxy
keeps worker+client codes, workers and clients keep none. Because params are part of state-init data,
the mask matters for addresses: always build through :func:`params_cell`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from cocoon.errors import ChainDataError
from cocoon.ton.cells import Cell
from cocoon.ton.codec import U1, U8, U32, Coins, MaybeRef, Struct

PARAMS_STRUCT_VERSION = 3


class CodeMask(enum.Enum):
    """Which contract codes a stored params cell keeps."""

    ROOT = (True, True, True)  # proxy, worker, client
    PROXY = (False, True, True)
    NONE = (False, False, False)


@dataclass(frozen=True)
class Params(Struct):
    """Network parameters (see spec/economics.md for meanings). Money fields are nanoTON."""

    struct_version: U8
    params_version: U32
    unique_id: U32
    is_test: U1
    price_per_token: Coins
    worker_fee_per_token: Coins
    prompt_mult: U32
    cached_mult: U32
    completion_mult: U32
    reasoning_mult: U32
    proxy_delay_before_close: U32
    client_delay_before_close: U32
    min_proxy_stake: Coins
    min_client_stake: Coins
    proxy_code: MaybeRef = None
    worker_code: MaybeRef = None
    client_code: MaybeRef = None

    def masked(self, mask: CodeMask) -> Params:
        """The same params keeping only the codes ``mask`` allows."""
        keep_proxy, keep_worker, keep_client = mask.value
        return replace(
            self,
            proxy_code=self.proxy_code if keep_proxy else None,
            worker_code=self.worker_code if keep_worker else None,
            client_code=self.client_code if keep_client else None,
        )

    @classmethod
    def from_cell(cls, cell: Cell) -> Params:
        """Parse a params cell; other struct versions are refused like the contracts do (1008)."""
        version = cell.begin_parse().preload_uint(8)
        if version != PARAMS_STRUCT_VERSION:
            raise ChainDataError(
                f"params struct_version is {version}, only {PARAMS_STRUCT_VERSION} is supported; "
                "the root was deployed by an incompatible tool"
            )
        return super().from_cell(cell)


def make_params(
    *,
    proxy_code: Cell | None,
    worker_code: Cell | None,
    client_code: Cell | None,
    params_version: int = 1,
    unique_id: int = 13,
    is_test: bool = True,
    price_per_token: int = 20,
    worker_fee_per_token: int = 19,
    mults: tuple[int, int, int, int] = (10_000, 10_000, 10_000, 10_000),
    proxy_delay_before_close: int = 600,
    client_delay_before_close: int = 300,
    min_proxy_stake: int = 1_000_000_000,
    min_client_stake: int = 1_000_000_000,
) -> Params:
    """Params with the local-network defaults (spec/economics.md; 1 TON stakes as in test setups)."""
    return Params(
        struct_version=PARAMS_STRUCT_VERSION,
        params_version=params_version,
        unique_id=unique_id,
        is_test=int(is_test),
        price_per_token=price_per_token,
        worker_fee_per_token=worker_fee_per_token,
        prompt_mult=mults[0],
        cached_mult=mults[1],
        completion_mult=mults[2],
        reasoning_mult=mults[3],
        proxy_delay_before_close=proxy_delay_before_close,
        client_delay_before_close=client_delay_before_close,
        min_proxy_stake=min_proxy_stake,
        min_client_stake=min_client_stake,
        proxy_code=proxy_code,
        worker_code=worker_code,
        client_code=client_code,
    )


def params_cell(params: Params, mask: CodeMask) -> Cell:
    """The params cell as a contract of kind ``mask`` stores it."""
    return params.masked(mask).to_cell()
