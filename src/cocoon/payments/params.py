"""Money units and the network parameters that price every request (spec/economics.md).

Money is always ``int`` nanoTON (1 TON = 10**9 nanoTON). The defaults below are the values seen on the
reference network's root contract; once the root contract is wired, its params replace them, but every
price computation still goes through :class:`NetworkParams` so there is exactly one place to change.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NewType

import msgspec

from cocoon.errors import PaymentError

Nano = NewType("Nano", int)
"""An amount of nanoTON."""

Tokens = NewType("Tokens", int)
"""A count of (adjusted) tokens."""

NO_NANO = Nano(0)
"""Zero nanoTON (a default that type-checks as money)."""
NO_TOKENS = Tokens(0)
"""Zero tokens (a default that type-checks as a token count)."""

NANO_PER_TON = 1_000_000_000
COEFFICIENT_ONE = 1000  # a worker's price coefficient: 1000 = 1.0x
MULTIPLIER_ONE = 10_000  # a token-class multiplier: 10000 = 1.0x
MAX_COEFFICIENT = 10**9 - 1


class NetworkParams(msgspec.Struct, frozen=True, kw_only=True):
    """Prices, multipliers, delays and minimum stakes; in the root contract's params on chain."""

    price_per_token: Nano = Nano(20)
    worker_fee_per_token: Nano = Nano(19)
    prompt_multiplier: int = MULTIPLIER_ONE
    cached_multiplier: int = MULTIPLIER_ONE
    completion_multiplier: int = MULTIPLIER_ONE
    reasoning_multiplier: int = MULTIPLIER_ONE
    proxy_delay_before_close: int = 86_400  # seconds; test setups use 600
    client_delay_before_close: int = 86_400  # seconds; test setups use 300
    min_proxy_stake: Nano = Nano(15 * NANO_PER_TON)
    min_client_stake: Nano = Nano(15 * NANO_PER_TON)
    params_version: int = 1

    def __post_init__(self) -> None:
        if self.price_per_token <= 0:
            raise PaymentError(f"price_per_token must be positive, got {self.price_per_token}")
        if not 0 <= self.worker_fee_per_token <= self.price_per_token:
            raise PaymentError(
                f"worker_fee_per_token must be within 0..price_per_token ({self.price_per_token}), "
                f"got {self.worker_fee_per_token}"
            )
        for name in ("prompt", "cached", "completion", "reasoning"):
            if getattr(self, f"{name}_multiplier") < 0:
                raise PaymentError(f"{name}_multiplier must not be negative")


DEFAULT_PARAMS = NetworkParams()


def format_ton(amount: int) -> str:
    """Render nanoTON as an exact decimal TON string: ``16000000000 -> '16'``, ``1500 -> '0.0000015'``.

    For display only: money stays int nanoTON. The one formatter of the project (CLI, dashboard, errors).
    """
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), NANO_PER_TON)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:09d}".rstrip("0")


def parse_ton(text: str) -> Nano:
    """``"1.5"`` -> ``1500000000`` nanoTON, exactly; ValueError beyond 9 decimals or if not a number."""
    try:
        value = Decimal(text) * NANO_PER_TON
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount of TON") from exc
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} has more than 9 decimals (1 nanoTON is the smallest unit)")
    return Nano(int(value))
