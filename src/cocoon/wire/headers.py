"""Names of the headers nodes add to an answer's head (`AnswerHead.headers`), lower case."""

from __future__ import annotations

WORKER_KEY = "x-cocoon-worker-key"
"""Hex of the raw Ed25519 key of the attested worker that answers (added by the proxy)."""
WORKER_STATEMENT = "x-cocoon-worker-statement"
"""Base64 of the signed claims statement from that worker's certificate (added by the proxy)."""
E2E_STALE_KEYS = "x-cocoon-e2e-stale-keys"
"""How many of an end-to-end envelope's keys no worker connected to the proxy holds (added by the
proxy when any: a restarted worker has a new key, a worker that left took its key). The client then
asks that proxy for fresh candidates before its next request instead of sealing to dead keys until
its list expires."""
