"""`GET /v1/models` as app developers read it: the proxies' `WorkerTypes`, merged per model.

Each entry keeps OpenAI's shape first (``id``, ``object``, ``created``, ``owned_by``), so
``client.models.list()`` works unchanged; the rest are extra fields (an SDK's ``model_extra``):

- ``context_length``: the shortest any serving worker's engine stated, in tokens (null: none said);
- ``endpoints``: the OpenAI paths at least one worker serves, and ``endpoint_workers`` which do;
- ``workers``: per worker its proxy, id, coefficient, load, context length, endpoints and
  ``price_nano_per_million_tokens`` (``prompt``, ``completion``: nanoTON at its coefficient);
- ``price_unit_tokens``: the token count those prices are for (a million).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cocoon.api.capabilities import known_endpoints, shortest_context
from cocoon.payments.pricing import PRICE_UNIT_TOKENS
from cocoon.wire.control import WorkerLoad, WorkerTypes


def model_list(answers: Iterable[tuple[str, WorkerTypes]]) -> list[dict[str, Any]]:
    """The model list from each proxy's answer (``(proxy address, WorkerTypes)``), models in first-seen
    order, one entry per model however many proxies serve it."""
    merged: dict[str, dict[str, Any]] = {}
    contexts: dict[str, list[int]] = {}
    for address, answer in answers:
        for t in answer.types:
            item = merged.setdefault(t.model, _entry(t.model))
            contexts.setdefault(t.model, []).append(t.context_length)
            item["workers"].extend(_worker(address, w) for w in t.worker_loads)
    for model, item in merged.items():
        item["context_length"] = shortest_context(contexts[model]) or None
        by_path = _endpoint_workers(item["workers"])
        item["endpoints"] = list(by_path)
        item["endpoint_workers"] = by_path
    return list(merged.values())


def _entry(model: str) -> dict[str, Any]:
    return {
        "id": model,
        "object": "model",
        "created": 0,
        "owned_by": "cocoon",
        "context_length": None,
        "endpoints": [],
        "endpoint_workers": {},
        "price_unit_tokens": PRICE_UNIT_TOKENS,
        "workers": [],
    }


def _worker(proxy: str, load: WorkerLoad) -> dict[str, Any]:
    return {
        "proxy": proxy,
        "worker_id": load.worker_id,
        "coefficient": load.coefficient,
        "active": load.active,
        "max_active": load.max_active,
        "context_length": load.context_length or None,
        "endpoints": list(known_endpoints(load.endpoints)),
        "price_nano_per_million_tokens": {
            "prompt": load.prompt_nano_per_mtok,
            "completion": load.completion_nano_per_mtok,
        },
    }


def _endpoint_workers(workers: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per served endpoint (in the known order), the workers serving it, as ``proxy/worker_id``."""
    served = known_endpoints(path for w in workers for path in w["endpoints"])
    return {
        path: [f"{w['proxy']}/{w['worker_id']}" for w in workers if path in w["endpoints"]] for path in served
    }
