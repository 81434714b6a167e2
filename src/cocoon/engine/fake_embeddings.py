"""The fake engine's ``/v1/embeddings``, answered as vLLM does (pure).

`embedding_response`: one vector per input, each ``dimensions`` (default
``config.embedding_dimensions``) floats in [-1, 1) drawn from the SHA-256 of the
input (its text, or its token ids joined by spaces), unit-length normalised; ``encoding_format: base64``
sends each vector as little-endian float32 bytes in base64; prompt tokens = ``config.prompt_tokens``
or the sum over inputs of ``ceil(len(text) / 4)`` (at least 1 each; a token array counts its ids).
With ``embeddings=False`` the engine has no such route (404), as a generative-only engine.
`check_embedding` refuses what vLLM refuses in an embeddings body.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from cocoon.engine.fake_answer import FakeEngineConfig, Rejection
from cocoon.usage import Usage


def check_embedding(body: dict[str, Any]) -> Rejection | None:
    """vLLM's refusals of an embeddings body: no input, generation parameters, a bad format or size."""
    if not isinstance(body.get("input"), str | list) or body["input"] == []:
        return Rejection(400, "'input' is required (a string or a non-empty list)", "input")
    for key in ("max_tokens", "stream", "n"):
        if key in body:
            return Rejection(400, f"'{key}' is not a parameter of an embeddings request", key)
    if body.get("encoding_format", "float") not in ("float", "base64", None):
        return Rejection(400, "'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
        return Rejection(400, f"'dimensions' must be an integer >= 1, got {dims!r}", "dimensions")
    return None


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """An embeddings request's inputs as texts: strings as they are, token ids joined by spaces."""
    raw = body.get("input", "")
    if isinstance(raw, str):
        return [raw]
    if raw and all(isinstance(t, int) for t in raw):
        return [" ".join(map(str, raw))]  # one input given as token ids
    return [p if isinstance(p, str) else " ".join(map(str, p)) for p in raw]


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """The deterministic unit vector of ``text``: floats from its SHA-256 (chained for length)."""
    raw = b""
    block = text.encode()
    while len(raw) < 4 * dimensions:
        block = hashlib.sha256(block).digest()
        raw += block
    values = [(n / 2**31) - 1.0 for n in struct.unpack(f"<{dimensions}I", raw[: 4 * dimensions])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # Rounded through float32, so the float and base64 forms carry the same numbers.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in values))))


def _embedding_tokens(body: dict[str, Any], texts: list[str], config: FakeEngineConfig) -> int:
    if config.prompt_tokens is not None:
        return config.prompt_tokens
    raw = body.get("input")
    if isinstance(raw, list) and raw and all(isinstance(p, list) for p in raw):
        return sum(max(1, len(p)) for p in raw)
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return len(raw)
    return sum(max(1, -(-len(t) // 4)) for t in texts)


def embedding_response(body: dict[str, Any], config: FakeEngineConfig) -> tuple[dict[str, Any], Usage]:
    """The whole answer to an embeddings ``body`` (vLLM's shape) and its usage (see the module docstring)."""
    texts = embedding_inputs(body)
    dimensions = body.get("dimensions") or config.embedding_dimensions
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dimensions)
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode() if as_base64 else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = _embedding_tokens(body, texts, config)
    answer = {
        "id": "embd-fake",
        "object": "list",
        "created": 0,
        "model": config.model,
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return answer, Usage(prompt_tokens=tokens)
