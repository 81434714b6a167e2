"""Which network a root belongs to: one of ours, or the public COCOON network (the reference's layout).

Both roots store ``owner``, ``version``, a registry cell and a params cell, with the params as the
second reference; they differ in the params cell's ``struct_version``. Our contracts accept exactly
version 3 (:data:`cocoon.ton.params.PARAMS_STRUCT_VERSION`) and our root has exactly two references;
the public root is at version 4 (April 2026) with a key-manager cell after the params, version 5
adds a verified-keys cell. So the layout is decided by that version byte and the reference count,
read before either parser runs (:func:`is_reference_layout`), and each root is then parsed strictly by
its own reader, whose errors name the field that does not fit. A public root still at version 3 would
be bit-for-bit a root of ours and is read as one; the public network moved past it before this
reader was written.

Only a client can use a public root (it speaks COCOON's protocol to the proxies registered there);
workers and proxies of ours refuse it at start with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.errors import ChainDataError, ChainError
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.params import PARAMS_STRUCT_VERSION
from cocoon.ton.reference import RefRootState, parse_reference_root
from cocoon.wallet import NodeWallet


@dataclass(frozen=True)
class PublicNodeChain:
    """A client's start on a public COCOON root: the chain, its funded wallet, the root as read."""

    chain: Chain
    wallet: NodeWallet
    root: Address
    state: RefRootState
    """The root's data at start, in the reference layout (params, registered proxies, hashes)."""


def is_reference_layout(data: Cell) -> bool:
    """Whether a root's data cell has the public network's layout rather than ours (module docstring).

    A cell with fewer than two references is neither; it counts as ours so that our reader names
    what is missing.
    """
    if len(data.refs) < 2:
        return False
    params = data.refs[1].begin_parse()
    if params.remaining_bits < 8:
        return False
    return len(data.refs) != 2 or params.preload_uint(8) != PARAMS_STRUCT_VERSION


def parse_root(root: Address, data: Cell) -> RegistrySnapshot | RefRootState:
    """A root's data cell read with the reader of its layout; ChainDataError names what does not fit."""
    if not is_reference_layout(data):
        return RegistrySnapshot.from_data(root, data)
    try:
        return parse_reference_root(data)
    except ChainDataError as exc:
        raise ChainDataError(
            f"root {root.raw} has the public COCOON network's layout but cannot be read: {exc}; "
            "check root_address, or update cocoon if the public root has moved to a newer layout"
        ) from exc


async def read_root(chain: Chain, root: Address) -> RegistrySnapshot | RefRootState:
    """The root at ``root`` now, ours or the public network's; ChainError if no contract lives there."""
    state = await chain.get_account(root)
    if state.status is not AccountStatus.ACTIVE or state.data is None:
        raise ChainError(
            f"no root contract at {root.raw} (account is {state.status.value}); check root_address, "
            "or deploy one with `cocoon root deploy`"
        )
    return parse_root(root, state.data)


def describe(state: RefRootState) -> str:
    """One line on a public root for the logs: versions, prices, stake, proxies."""
    p = state.params
    proxies = ", ".join(p_.endpoints.clients for p_ in state.proxies) or "none"
    return (
        f"params v{p.struct_version} (params_version {p.params_version}), root version {state.version}, "
        f"price {p.price_per_token} nanoTON per token, client stake {p.min_client_stake} nanoTON, "
        f"{'test' if p.is_test else 'production'} network, client endpoints: {proxies}"
    )
