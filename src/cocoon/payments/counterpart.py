"""The counterpart's side of a payment channel: a client or a worker checking what its proxy reports.

Every `PaymentUpdate` carries the proxy's three counters and, when the chain-committed total grew, a
signed cumulative payment (a charge for a client, a payout for a worker). The counterpart accepts it
only if no counter went down, the signature is the proxy's (the key its certificate attests), the
payment targets the counterpart's own contract, and it signs exactly the reported chain-committed total.
Any failure means the proxy lost or forged state: the caller drops that proxy.

A proxy that closes its contract may send a *final* signed payment instead (a worker's
``last_payout``): the same checks apply, it may sign the same total as the latest regular one (it
closes the counterpart's contract rather than moving money), and once kept it is never replaced by a
regular one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from cocoon.errors import CocoonError, PaymentError
from cocoon.payments.channel import Counters, check_progress
from cocoon.payments.params import NO_TOKENS, Tokens
from cocoon.ton.address import Address
from cocoon.ton.cells import cell_from_boc
from cocoon.ton.signed import SignedRequest
from cocoon.wire.messages import PaymentUpdate

S = TypeVar("S", bound=SignedRequest)


@dataclass
class ChannelView:
    """What a counterpart knows of its channel with one proxy."""

    proxy_contract: Address
    proxy_key: bytes
    contract: Address
    last: Counters | None = None
    signed: bytes | None = None
    signed_tokens: Tokens = NO_TOKENS
    signed_final: bool = False
    """Whether ``signed`` is the proxy's final signed payment (a worker's last payout)."""


def counters_of(update: PaymentUpdate) -> Counters:
    """The three counters a payment update reports, checked for order (`PaymentError` if broken)."""
    return Counters(
        Tokens(update.tokens_max), Tokens(update.committed_to_db), Tokens(update.committed_to_chain)
    )


def parse_signed(kind: type[S], boc: bytes) -> S:
    """Decode a signed payment of ``kind`` (PaymentError if it does not decode)."""
    try:
        return kind.from_cell(cell_from_boc(boc))
    except CocoonError as exc:
        raise PaymentError(f"a signed {kind.__name__} does not decode: {exc}") from exc


def signed_op(boc: bytes) -> int:
    """The outer op of a signed payment's BoC (PaymentError if it is no cell with an op)."""
    try:
        cs = cell_from_boc(boc).begin_parse()
        return int(cs.preload_uint(32))
    except Exception as exc:  # a peer's bytes: any decode failure is a bad payment
        raise PaymentError(f"a signed payment does not decode: {exc}") from exc


def accept_update(
    channel: ChannelView,
    update: PaymentUpdate,
    kind: type[SignedRequest],
    final: type[SignedRequest] | None = None,
) -> bool:
    """Check one update against ``channel`` and keep a newer signed payment; True when one was kept.

    ``final``: the kind of the proxy's final signed payment this channel also accepts (module
    docstring). Raises `PaymentError` (or its `StateRollbackError`) when the proxy must be dropped.
    """
    who = f"proxy contract {channel.proxy_contract.raw}"
    current = counters_of(update)
    check_progress(channel.last, current, who=who)
    channel.last = current
    if update.signed_payment is None:
        return False
    is_final = final is not None and signed_op(update.signed_payment) == final.OP
    if channel.signed_final:
        if is_final and update.committed_to_chain == channel.signed_tokens:
            return False  # the same final payment again
        raise PaymentError(f"{who} sent another signed payment after its final one")
    if is_final:
        if update.committed_to_chain < channel.signed_tokens:
            raise PaymentError(
                f"{who} signed a final payment of {update.committed_to_chain} tokens, below the "
                f"{channel.signed_tokens} it signed before"
            )
    elif update.committed_to_chain <= channel.signed_tokens:
        return False
    used = final if is_final and final is not None else kind
    request = parse_signed(used, update.signed_payment)
    payload = request.signed_payload()
    if not request.verify(channel.proxy_key) or payload.expected_address != channel.contract:
        raise PaymentError(f"{who} sent a {used.__name__} not valid for our contract {channel.contract}")
    if payload.new_tokens != update.committed_to_chain:
        raise PaymentError(
            f"{who} signed {payload.new_tokens} tokens but reported {update.committed_to_chain} "
            "chain-committed"
        )
    channel.signed, channel.signed_tokens = update.signed_payment, current.committed_to_chain
    channel.signed_final = is_final
    return True
