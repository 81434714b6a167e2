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

from cocoon.payments.params import NetworkParams, Tokens


@dataclass(frozen=True, slots=True)
class ClientContractView:
    """What the proxy knows of one client contract (from the notes every client op forwards)."""

    balance_nano: int
    stake_nano: int
    sc_tokens_used: int
    state: int = 0
    """0 normal, 1 closing, 2 closed: only a normal contract gets credit."""
    secret_hash: int = 0
    """sha256 of the secret a client shows to prove the contract is its own."""


def available_tokens(
    view: ClientContractView, tokens_used: int, reserved: int, params: NetworkParams
) -> Tokens:
    """Adjusted tokens the client may still reserve (negative when overdrawn)."""
    if view.state != 0:
        return Tokens(-reserved)
    price = params.price_per_token
    paid = view.balance_nano // price + view.sc_tokens_used
    return Tokens(min(paid, view.sc_tokens_used + view.stake_nano // price) - reserved - tokens_used)
