"""Metering: engine usage -> adjusted tokens -> nanoTON, in exact integer arithmetic (spec/economics.md).

This is the only implementation of the formula; the proxy, the worker and the planner all call it.
"""

from __future__ import annotations

import msgspec

from cocoon.errors import PaymentError
from cocoon.payments.params import (
    COEFFICIENT_ONE,
    MAX_COEFFICIENT,
    MULTIPLIER_ONE,
    Nano,
    NetworkParams,
    Tokens,
)
from cocoon.usage import Usage

_SCALE = COEFFICIENT_ONE * MULTIPLIER_ONE  # adj = x * coefficient * mult // 10_000_000


class AdjustedTokens(msgspec.Struct, frozen=True, kw_only=True):
    """Adjusted tokens per class and their total: what contracts and signed payments count."""

    prompt: Tokens
    cached: Tokens
    completion: Tokens
    reasoning: Tokens
    total: Tokens


def _adj(count: int, coefficient: int, multiplier: int) -> Tokens:
    # floor(x * coefficient/1000 * mult/10000) computed exactly: one multiplication chain, one division.
    return Tokens(count * coefficient * multiplier // _SCALE)


def check_coefficient(coefficient: int) -> None:
    """Raise PaymentError unless ``coefficient`` is a valid worker price coefficient (0 .. 10**9 - 1)."""
    if not 0 <= coefficient <= MAX_COEFFICIENT:
        raise PaymentError(
            f"coefficient must be within 0..{MAX_COEFFICIENT} (1000 = 1.0x), got {coefficient}"
        )


def adjusted_tokens(usage: Usage, coefficient: int, params: NetworkParams) -> AdjustedTokens:
    """Scale one usage report by the worker's coefficient and the per-class multipliers."""
    check_coefficient(coefficient)
    prompt = _adj(usage.prompt_tokens - usage.cached_tokens, coefficient, params.prompt_multiplier)
    cached = _adj(usage.cached_tokens, coefficient, params.cached_multiplier)
    completion = _adj(
        usage.completion_tokens - usage.reasoning_tokens, coefficient, params.completion_multiplier
    )
    reasoning = _adj(usage.reasoning_tokens, coefficient, params.reasoning_multiplier)
    total = Tokens(prompt + cached + completion + reasoning)
    return AdjustedTokens(
        prompt=prompt, cached=cached, completion=completion, reasoning=reasoning, total=total
    )


def client_cost(tokens: Tokens, params: NetworkParams) -> Nano:
    """nanoTON a client pays for ``tokens`` adjusted tokens."""
    return Nano(tokens * params.price_per_token)


def worker_earnings(tokens: Tokens, params: NetworkParams) -> Nano:
    """nanoTON a worker earns for ``tokens`` adjusted tokens."""
    return Nano(tokens * params.worker_fee_per_token)


def proxy_commission(tokens: Tokens, params: NetworkParams) -> Nano:
    """nanoTON the proxy keeps for ``tokens`` adjusted tokens (price minus worker fee)."""
    return Nano(tokens * (params.price_per_token - params.worker_fee_per_token))


def completion_budget(max_tokens: int, choices: int) -> Tokens:
    """The most completion tokens one request may generate: ``max_tokens`` per choice times the number
    of choices the engine generates (``n``, or a legacy completion's ``best_of`` when larger).

    The client sends it as `RunQuery.max_tokens`; the proxy reserves for it; the worker caps each
    choice at `choice_cap` of it, so generation never exceeds what was reserved.
    """
    if max_tokens < 1 or choices < 1:
        raise PaymentError(f"max_tokens and choices must be at least 1, got {max_tokens} and {choices}")
    return Tokens(max_tokens * choices)


def choice_cap(budget: int, choices: int) -> Tokens:
    """The per-choice generation cap that keeps ``choices`` choices within ``budget`` completion tokens
    (the inverse of `completion_budget`: ``choice_cap(completion_budget(m, c), c) == m``); 0 when the
    budget cannot give every choice one token."""
    if budget < 0 or choices < 1:
        raise PaymentError(f"budget must not be negative and choices at least 1, got {budget} and {choices}")
    return Tokens(budget // choices)


def reservation_tokens(
    max_tokens: int, request_size_estimate: int, max_coefficient: int, *, generates: bool = True
) -> Tokens:
    """Worst-case adjusted tokens a proxy reserves before dispatch: (max + size) * max_coefficient / 1000.

    ``max_tokens`` is the request's whole completion budget (`completion_budget`: every choice counts)
    and must be at least 1: a budget of 0 reserves nothing for the answer (and older workers read 0 as
    "no cap"), so no generating request may be dispatched with it. A request that generates nothing
    (``generates=False``: embeddings, priced as prompt tokens only) has no completion part: its budget
    must be 0 and the reservation is the size estimate alone.
    """
    check_coefficient(max_coefficient)
    if generates and max_tokens < 1:
        raise PaymentError(
            f"max_tokens must be at least 1 (the completion tokens the request may generate over all its "
            f"choices), got {max_tokens}"
        )
    if not generates and max_tokens != 0:
        raise PaymentError(
            f"a request that generates no tokens (embeddings) has no completion budget: max_tokens must be "
            f"0, got {max_tokens}"
        )
    if request_size_estimate < 0:
        raise PaymentError("request_size_estimate must not be negative")
    return Tokens((max_tokens + request_size_estimate) * max_coefficient // COEFFICIENT_ONE)


PRICE_UNIT_TOKENS = 1_000_000
"""Tokens per quoted price: a per-token price is fractional nanoTON at most coefficients, so prices are
quoted per million tokens, in whole nanoTON."""


class TokenPrices(msgspec.Struct, frozen=True, kw_only=True):
    """What a client pays per `PRICE_UNIT_TOKENS` engine tokens of each class at one coefficient."""

    prompt: Nano
    completion: Nano


def token_prices(coefficient: int, params: NetworkParams) -> TokenPrices:
    """The client's price per million prompt and per million completion tokens at ``coefficient``:
    the metering formula applied to a million tokens of each class."""
    unit = adjusted_tokens(
        Usage(prompt_tokens=PRICE_UNIT_TOKENS, completion_tokens=PRICE_UNIT_TOKENS), coefficient, params
    )
    return TokenPrices(
        prompt=client_cost(unit.prompt, params), completion=client_cost(unit.completion, params)
    )
