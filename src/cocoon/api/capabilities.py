"""What a worker's engine can do, as `/v1/models` shows it: its context length and OpenAI endpoints.

The worker learns both from its engine at start and declares them in its offer (`WorkerState`); the
proxy keeps only what this module accepts (the offer is untrusted input) and aggregates per model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cocoon.api.validation import ENDPOINTS

KNOWN_ENDPOINTS: tuple[str, ...] = tuple(ENDPOINTS)
"""The OpenAI endpoints a worker may declare, in the order they are listed; the worker probes each and
the proxy routes a request only to workers that declared its path. A new endpoint is added here (from
`cocoon.api.validation.ENDPOINTS`) once the network can route it; an older proxy drops a name it does
not know."""

UNDECLARED_ENDPOINTS: tuple[str, ...] = ("/v1/chat/completions", "/v1/completions")
"""What a worker that declares no endpoints is taken to serve (`proxy.admission.admitted_offer`):
workers from before the probe existed served exactly these, so a network upgraded one node at a time
keeps routing to them."""

PROVEN_BY_USE: dict[str, dict[str, Any]] = {"/v1/embeddings": {"input": "probe"}}
"""Endpoints whose route alone does not prove the engine serves them, with the smallest request (the
model is added) that does: llama.cpp has a ``/v1/embeddings`` route but embeds only when loaded with
``embedding=True`` (a 500 otherwise), vLLM refuses it for a generative model. Embedding one word
generates nothing."""

MAX_CONTEXT_LENGTH = 1 << 30
"""The largest context length (tokens) a worker may declare; anything above is not believed."""

CONTEXT_LENGTH_KEYS = ("max_model_len", "context_length")
"""Fields of an engine's `/v1/models` entry that carry its context length: vLLM's ``max_model_len``
and the ``context_length`` some gateways use. llama.cpp's server (the built-in engine) states the
context of one slot as ``meta.n_ctx``."""


def context_length_of(entry: Mapping[str, Any]) -> int | None:
    """The context length an engine's `/v1/models` entry states, or None when it states none we trust."""
    meta = entry.get("meta")
    found = [entry.get(key) for key in CONTEXT_LENGTH_KEYS]
    if isinstance(meta, Mapping):
        found.append(meta.get("n_ctx"))
    for value in found:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CONTEXT_LENGTH:
            return value
    return None


def known_endpoints(names: Iterable[str]) -> tuple[str, ...]:
    """The known endpoint names among ``names``, once each, in `KNOWN_ENDPOINTS` order."""
    declared = set(names)
    return tuple(name for name in KNOWN_ENDPOINTS if name in declared)


def shortest_context(lengths: Iterable[int]) -> int:
    """The context length every declaring worker supports: the minimum of the known (non-zero) ones;
    0 (unknown) when none is known."""
    known = [n for n in lengths if n > 0]
    return min(known) if known else 0
