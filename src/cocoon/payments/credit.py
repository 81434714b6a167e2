"""A client's credit at a proxy, from its client contract's state (spec/economics.md, "Client credit").

::

    sc_tokens_paid = contract_balance / price + sc_tokens_used      # what the chain says is paid
    stake_tokens   = stake / price
    available      = min(sc_tokens_paid, sc_tokens_used + stake_tokens) - reserved - tokens_used

``tokens_used`` is the proxy's cumulative total for this client (its channel's ``tokens_max``), so
``tokens_used - sc_tokens_used`` is the usage not yet charged on chain: the balance must cover it, and
the stake bounds how much of it the proxy extends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cocoon.payments.params import Nano, NetworkParams, Tokens


@dataclass(frozen=True, slots=True)
class ClientContractView:
    """What the proxy knows of one client contract (from the notes every client op forwards)."""

    balance_nano: Nano
    stake_nano: Nano
    sc_tokens_used: Tokens
    state: int = 0
    """0 normal, 1 closing, 2 closed: only a normal contract gets credit."""
    secret_hash: int = 0
    """sha256 of the secret a client shows to prove the contract is its own."""


class ClientContractState(Protocol):
    """A client contract's state as the chain shows it: its data cell, or the snapshot every client
    operation forwards to the proxy contract."""

    @property
    def balance(self) -> int: ...
    @property
    def stake(self) -> int: ...
    @property
    def tokens_used(self) -> int: ...
    @property
    def state(self) -> int: ...
    @property
    def secret_hash(self) -> int: ...


def client_view(contract: ClientContractState) -> ClientContractView:
    """What the proxy keeps of a client contract's state, in nanoTON and adjusted tokens."""
    return ClientContractView(
        Nano(contract.balance),
        Nano(contract.stake),
        Tokens(contract.tokens_used),
        contract.state,
        contract.secret_hash,
    )


def available_tokens(
    view: ClientContractView, tokens_used: int, reserved: int, params: NetworkParams
) -> Tokens:
    """Adjusted tokens the client may still reserve (negative when overdrawn)."""
    if view.state != 0:
        return Tokens(-reserved)
    price = params.price_per_token
    paid = view.balance_nano // price + view.sc_tokens_used
    return Tokens(min(paid, view.sc_tokens_used + view.stake_nano // price) - reserved - tokens_used)
