"""Token counts of one request: the one `Usage` type from the engine to the proxy's ledger.

The engine reports it (`cocoon.engine.usage` reads OpenAI's ``usage`` object into it), the worker
sends it in ``AnswerEnd``/``AnswerError`` (`cocoon.wire.messages`), the proxy meters it
(`cocoon.payments.pricing.adjusted_tokens`) and the planner prices hypothetical days with it.

Its invariants (every count >= 0, cached <= prompt, reasoning <= completion) are checked whenever a
`Usage` comes into existence, so no code downstream clamps or re-checks:

- built in code, a bad one raises `InvalidUsageError` (a `PaymentError`);
- decoded from a peer, the same check runs inside msgspec, which reports it as a validation error:
  the wire codec turns that into a `DecodeError`, and the connection is closed with the reason.

It lives at the package root, beside `errors` and `clock`, because both `wire` and `payments`
(pure core, neither importing the other) need it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from cocoon.errors import InvalidUsageError

_Count = Annotated[int, msgspec.Meta(ge=0)]


class Usage(msgspec.Struct, frozen=True, array_like=True):
    """Token counts of one request as the engine reported them; cached is part of prompt, reasoning
    part of completion. On the wire an array in this field order: prompt, cached, completion,
    reasoning."""

    prompt_tokens: _Count = 0
    cached_tokens: _Count = 0
    completion_tokens: _Count = 0
    reasoning_tokens: _Count = 0

    def __post_init__(self) -> None:
        problem = usage_problem(self)
        if problem is not None:
            raise InvalidUsageError(problem)


def usage_problem(usage: Usage) -> str | None:
    """What is wrong with these counts (None: nothing). Msgspec skips its ``ge=0`` constraint when a
    Struct is built in code, hence the sign check here too."""
    for name in ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens"):
        value = getattr(usage, name)
        if value < 0:
            return f"usage.{name} must not be negative, got {value}"
    if usage.cached_tokens > usage.prompt_tokens:
        return f"usage.cached_tokens ({usage.cached_tokens}) exceeds prompt_tokens ({usage.prompt_tokens})"
    if usage.reasoning_tokens > usage.completion_tokens:
        return (
            f"usage.reasoning_tokens ({usage.reasoning_tokens}) exceeds completion_tokens "
            f"({usage.completion_tokens})"
        )
    return None


NO_USAGE = Usage()
"""Usage with every count zero (the default)."""


PROMPT_BYTES_PER_TOKEN = 4
"""Bytes of request body counted as one prompt token when the engine never reported usage."""


def delivered_usage(request_bytes: int, generated: int) -> Usage | None:
    """What a streamed answer whose engine never sent its usage (it broke mid-stream, or reports none)
    is charged for: ``generated`` completion tokens (the generated pieces relayed, a lower bound:
    `cocoon.engine.stream.generated_in`) and a prompt estimated from the request body the worker
    forwarded, one token per `PROMPT_BYTES_PER_TOKEN` bytes rounded up. That body is what the proxy's
    reservation counts as the request's size (one token per byte, the worst case), so the estimate is a
    quarter of the reserved prompt part: about what tokenizers give for English text in JSON, never
    above the reservation. None when nothing was generated: an answer that delivered no token is not
    charged, its prompt included (the engine never proved it read it)."""
    if request_bytes < 0 or generated < 0:
        raise InvalidUsageError(
            f"request bytes and generated pieces must be >= 0, got {request_bytes}, {generated}"
        )
    if generated == 0:
        return None
    prompt = -(-request_bytes // PROMPT_BYTES_PER_TOKEN)
    return Usage(prompt_tokens=prompt, completion_tokens=generated)
