"""Names of the headers nodes add to an answer's head (`AnswerHead.headers`), lower case."""

from __future__ import annotations

WORKER_KEY = "x-cocoon-worker-key"
"""Hex of the raw Ed25519 key of the attested worker that answers (added by the proxy)."""
WORKER_STATEMENT = "x-cocoon-worker-statement"
"""Base64 of the signed claims statement from that worker's certificate (added by the proxy)."""
