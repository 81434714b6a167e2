"""When money moves on chain: the threshold rules of spec/economics.md ("Thresholds").

Every rule compares nanoTON with nanoTON. **ours:** the reference compares a worker's *token* count with
nanoTON constants in its self-payout rule; here tokens are converted with the worker fee first.
Tokens are cumulative adjusted-token totals as the contracts count them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.payments.params import NANO_PER_TON, Nano, NetworkParams, Tokens

ONE_TON = Nano(NANO_PER_TON)
TEN_TON = Nano(10 * NANO_PER_TON)
ONE_FIFTH_TON = Nano(NANO_PER_TON // 5)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The amounts (nanoTON) that trigger on-chain operations; defaults are the reference's."""

    charge_nano: Nano = ONE_TON
    """The proxy charges a client once chain-committed, uncharged usage reaches this."""
    payout_nano: Nano = TEN_TON
    """The proxy pays a worker once its chain-committed, unpaid earnings reach this."""
    withdraw_nano: Nano = TEN_TON
    """The proxy withdraws its commission once the contract's withdrawable balance reaches this."""
    worker_payout_nano: Nano = TEN_TON
    """A worker submits its latest signed payout itself once unclaimed earnings reach this..."""
    worker_idle_payout_nano: Nano = ONE_FIFTH_TON
    """...or, when it is idle, once they reach this smaller amount."""


DEFAULT_THRESHOLDS = Thresholds()


def proxy_should_charge(
    committed_tokens: Tokens, charged_tokens: Tokens, params: NetworkParams, thresholds: Thresholds
) -> bool:
    """Whether the proxy submits a signed charge to a client contract (``charged``: its tokens_used)."""
    uncharged = committed_tokens - charged_tokens
    return uncharged > 0 and uncharged * params.price_per_token >= thresholds.charge_nano


def proxy_should_pay(
    committed_tokens: Tokens, paid_tokens: Tokens, params: NetworkParams, thresholds: Thresholds
) -> bool:
    """Whether the proxy submits a signed payout to a worker contract (``paid``: its tokens)."""
    unpaid = committed_tokens - paid_tokens
    return unpaid > 0 and unpaid * params.worker_fee_per_token >= thresholds.payout_nano


def proxy_should_withdraw(withdrawable_nano: Nano, thresholds: Thresholds) -> bool:
    """Whether the proxy asks its contract to send the commission (its ``balance``) to the owner."""
    return withdrawable_nano > 0 and withdrawable_nano >= thresholds.withdraw_nano


def client_top_up_nano(
    contract_balance_nano: Nano, uncharged_tokens: Tokens, stake_nano: Nano, params: NetworkParams
) -> Nano:
    """How much the client adds to its contract now: one stake when paid - used < stake / 2, else 0.

    ``contract_balance_nano`` is what the contract holds for usage not yet charged on chain;
    ``uncharged_tokens`` is the proxy-reported usage above the contract's tokens_used.
    """
    left_nano = contract_balance_nano - uncharged_tokens * params.price_per_token
    return Nano(stake_nano if 2 * left_nano < stake_nano else 0)


def client_should_self_charge(
    reported_tokens: Tokens, charged_tokens: Tokens, stake_nano: Nano, params: NetworkParams
) -> bool:
    """Whether the client submits the proxy's latest signed charge itself: the proxy-reported,
    chain-committed usage exceeds what the contract charged by more than half the stake."""
    return 2 * (reported_tokens - charged_tokens) * params.price_per_token > stake_nano


def worker_should_cash_out(
    signed_tokens: Tokens, paid_tokens: Tokens, params: NetworkParams, thresholds: Thresholds, *, idle: bool
) -> bool:
    """Whether a worker submits its latest signed payout itself (tokens converted to nanoTON first)."""
    unclaimed_nano = (signed_tokens - paid_tokens) * params.worker_fee_per_token
    limit = thresholds.worker_idle_payout_nano if idle else thresholds.worker_payout_nano
    return signed_tokens > paid_tokens and unclaimed_nano >= limit
