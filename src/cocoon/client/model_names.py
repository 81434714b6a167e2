"""Short model names: an app may ask for `SmolLM2-135M-Instruct-Q4_1` instead of the full model id.

Model ids are `name@revision:sha256-of-weights` (DESIGN.md, Engines) so that an answer names exactly
which weights produced it; typing the hash is no way to try a model. A requested name without `@` that
matches the name part of exactly one model the network serves now is taken as that model's full id.
An exact id, an unknown name or an ambiguous one is left as it is (the network then answers as usual).
"""

from __future__ import annotations

from collections.abc import Iterable


def resolve_model(requested: str, known: Iterable[str]) -> str:
    """The full model id meant by ``requested`` among the ``known`` ids (see the module docstring)."""
    if "@" in requested:
        return requested
    ids = list(known)
    if requested in ids:
        return requested
    matches = [model_id for model_id in ids if model_id.split("@", 1)[0] == requested]
    return matches[0] if len(matches) == 1 else requested
