"""What the worker's engine can do, learned once at start: its context length and OpenAI endpoints.

Both go into the worker's offer (`WorkerState`) so `/v1/models` can tell app developers. The probe is
cheap (one model listing; per endpoint a request that generates nothing), bounded in time, and never
fatal: an engine that does not answer simply states no context length or does not list that endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cocoon.api.capabilities import KNOWN_ENDPOINTS, context_length_of
from cocoon.engine.protocol import Engine
from cocoon.errors import EngineError

log = logging.getLogger(__name__)

PROBE_WITHIN_S = 5.0
"""The longest one probe (the model listing, or one endpoint) may take."""


@dataclass(frozen=True, slots=True)
class EngineCapabilities:
    """What the engine stated or answered for: 0 context length means it did not say."""

    context_length: int = 0
    endpoints: tuple[str, ...] = ()


async def probe_engine(
    engine: Engine,
    model: str,
    *,
    within: float = PROBE_WITHIN_S,
    endpoints: tuple[str, ...] = KNOWN_ENDPOINTS,
) -> EngineCapabilities:
    """The engine's context length for ``model`` and which of ``endpoints`` it serves."""
    context, served = await asyncio.gather(
        _context_length(engine, model, within),
        asyncio.gather(*(_serves(engine, p, within) for p in endpoints)),
    )
    found = tuple(path for path, ok in zip(endpoints, served, strict=True) if ok)
    log.info("engine for %s: context length %s, endpoints %s", model, context or "unknown", list(found))
    return EngineCapabilities(context_length=context, endpoints=found)


async def _context_length(engine: Engine, model: str, within: float) -> int:
    try:
        entries = await asyncio.wait_for(engine.model_entries(within=within), within)
    except (EngineError, TimeoutError) as exc:
        log.warning("the engine's model list gave no context length: %s", exc or "no answer in time")
        return 0
    for entry in entries:
        if entry.get("id") == model:
            return context_length_of(entry) or 0
    return 0


async def _serves(engine: Engine, path: str, within: float) -> bool:
    try:
        return await asyncio.wait_for(engine.serves(path, within=within), within)
    except (EngineError, TimeoutError) as exc:
        log.warning(
            "the engine did not answer a probe of %s, so it is not offered: %s", path, exc or "timeout"
        )
        return False
