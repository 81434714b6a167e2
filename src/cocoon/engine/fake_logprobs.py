"""Log-probabilities of the fake engine's answer, deterministic per piece (pure).

Each generated piece (one per content chunk) is one token. Piece ``i`` (0-based, counted from the
start of the answer) has log-probability ``L(i) = -(i % 5) * 0.25 - 0.01``. Its ``k`` top
alternatives are, in order, the piece itself (``L(i)``), then the first distinct strings different
from it among ``piece.upper()``, ``piece + "1"``, ``piece + "2"``, ..., the ``j``-th (1-based) with
``L(i) - j``.

Chat (``logprobs: true``, ``top_logprobs: k`` in 0..20, default 0): each choice's ``logprobs`` is
``{"content": [chat_entry(piece, i, k) for each piece]}``; a streamed content chunk carries the entry
of its own piece. Legacy completions (``logprobs: k`` in 0..5): ``{"tokens", "token_logprobs",
"top_logprobs" (one ``{token: logprob}`` of k entries per piece), "text_offset"}`` (offsets within the
generated text); a streamed chunk carries the same four lists for its one piece.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

Refusal = tuple[str, str]

MAX_CHAT_TOP = 20
MAX_COMPLETION_TOP = 5


def logprob(i: int) -> float:
    """The log-probability of piece ``i``."""
    return -(i % 5) * 0.25 - 0.01


def _candidates(piece: str) -> Iterator[str]:
    yield piece
    yield piece.upper()
    yield from (f"{piece}{j}" for j in itertools.count(1))


def top_tokens(piece: str, i: int, k: int) -> list[tuple[str, float]]:
    """Piece ``i``'s ``k`` most likely tokens with their log-probabilities, the piece first."""
    out: dict[str, float] = {}
    for token in _candidates(piece):
        if len(out) == k:
            break
        out.setdefault(token, logprob(i) - len(out))
    return list(out.items())


def _entry(token: str, value: float) -> dict[str, Any]:
    return {"token": token, "logprob": value, "bytes": list(token.encode())}


def chat_entry(piece: str, i: int, k: int) -> dict[str, Any]:
    """The chat ``logprobs.content`` entry of piece ``i`` with ``k`` top alternatives."""
    top = [_entry(token, value) for token, value in top_tokens(piece, i, k)]
    return {**_entry(piece, logprob(i)), "top_logprobs": top}


def chat_logprobs(pieces: tuple[str, ...], k: int, start: int = 0) -> dict[str, Any]:
    """A chat choice's ``logprobs`` for ``pieces``, the first being piece ``start`` of the answer."""
    return {"content": [chat_entry(p, start + n, k) for n, p in enumerate(pieces)]}


def completion_logprobs(pieces: tuple[str, ...], k: int, start: int = 0, offset: int = 0) -> dict[str, Any]:
    """A legacy completion choice's ``logprobs`` for ``pieces`` (piece ``start`` at text ``offset``)."""
    offsets = [offset + sum(len(p) for p in pieces[:n]) for n in range(len(pieces))]
    return {
        "tokens": list(pieces),
        "token_logprobs": [logprob(start + n) for n in range(len(pieces))],
        "top_logprobs": [dict(top_tokens(p, start + n, k)) for n, p in enumerate(pieces)],
        "text_offset": offsets,
    }


def requested_top(body: dict[str, Any], chat: bool) -> int | None:
    """How many alternatives a (checked) ``body`` asks per token, or None if it asks no logprobs."""
    if chat:
        return int(body.get("top_logprobs") or 0) if body.get("logprobs") is True else None
    value = body.get("logprobs")
    return value if isinstance(value, int) else None


def _bad_count(value: Any, top: int) -> bool:
    return value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top
    )


def check_logprobs(body: dict[str, Any], chat: bool) -> Refusal | None:
    """vLLM's refusals of ``logprobs`` / ``top_logprobs``, or None."""
    if not chat:
        if _bad_count(body.get("logprobs"), MAX_COMPLETION_TOP):
            return f"'logprobs' must be an integer in 0..{MAX_COMPLETION_TOP}", "logprobs"
        return None
    if not isinstance(body.get("logprobs", False), bool | None):
        return "'logprobs' must be a boolean", "logprobs"
    top = body.get("top_logprobs")
    if _bad_count(top, MAX_CHAT_TOP):
        return f"'top_logprobs' must be an integer in 0..{MAX_CHAT_TOP}", "top_logprobs"
    if top and body.get("logprobs") is not True:
        return "when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs"
    return None
