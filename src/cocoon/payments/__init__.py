"""Payments (pure core): units, network parameters and metering.

``params`` holds the money units and :class:`NetworkParams`; ``pricing`` turns engine usage into
adjusted tokens and nanoTON with the exact integer formula of spec/economics.md.
"""

from cocoon.payments.params import (
    DEFAULT_PARAMS,
    NANO_PER_TON,
    Nano,
    NetworkParams,
    Tokens,
    format_ton,
    parse_ton,
)
from cocoon.payments.pricing import (
    AdjustedTokens,
    adjusted_tokens,
    choice_cap,
    client_cost,
    completion_budget,
    proxy_commission,
    reservation_tokens,
    worker_earnings,
)

__all__ = [
    "DEFAULT_PARAMS",
    "NANO_PER_TON",
    "AdjustedTokens",
    "Nano",
    "NetworkParams",
    "Tokens",
    "adjusted_tokens",
    "choice_cap",
    "client_cost",
    "completion_budget",
    "format_ton",
    "parse_ton",
    "proxy_commission",
    "reservation_tokens",
    "worker_earnings",
]
