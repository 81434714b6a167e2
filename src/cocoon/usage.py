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
