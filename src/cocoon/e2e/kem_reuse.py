"""One HPKE encapsulation per worker key for a minute, on both ends, instead of one per request.

Sealing a wrap costs two X25519 operations on the client (the ephemeral key and the shared secret)
and opening it one on the worker: the largest share of what end-to-end encryption adds to a request
(`benchmarks/bench_e2e.py`: sealing to one worker 70 µs with a fresh encapsulation, 16 with a kept
one; to three, 191 and 29; the worker opening an envelope, 54 and 17). RFC 9180's Encap draws a
fresh ephemeral key every time; here a client keeps the encapsulation it made to a worker's key for
`REUSE_S` seconds and seals every wrap to that key with it (`ReusedEncapsulations`), and a worker
keeps the key schedule's secret of the encapsulations it recently opened (`DecapsulationCache`). The
wire format does not change: every wrap is still an RFC 9180 Base-mode ciphertext that any HPKE
implementation opens.

Why this keeps the guarantees of spec/e2e.md:
- No key and nonce are ever used twice: each wrap's key and nonce come from its ``info``, which holds
  ``h``, the hash of a header with a fresh random nonce; ``rs`` is still fresh per request.
- What protects a wrap from the proxy is still the worker's private key, unchanged: a proxy that sees
  the same ``enc`` learns nothing it can open with.
- What changes is the client's side of forward secrecy: what it derived from its ephemeral key
  stays in its memory for about a minute (until its first request after that minute) instead of one
  request, so someone who read that memory could open the requests it sealed to that worker in that
  minute. The same memory holds those prompts in clear.
- The proxy can tell that wraps with one ``enc`` come from one client; it already reads the client's
  id in every request.

Both are bounded in memory, and neither takes the time itself: the caller passes ``now``.
"""

from __future__ import annotations

from collections.abc import Callable

from cocoon.e2e.suite import KEY_SIZE, Encapsulation, HpkeKeyPair, decapsulate, encapsulate

REUSE_S = 60.0
"""How long a client seals to one worker key with the same encapsulation."""
MAX_KEYS = 1024
"""Worker keys a client keeps an encapsulation for (more than any proxy lists in a minute)."""
MAX_SECRETS = 4096
"""Encapsulations a worker remembers the secret of (a minute of several hundred clients)."""


class ReusedEncapsulations:
    """The client's encapsulation per worker public key, made afresh after `REUSE_S` seconds."""

    def __init__(
        self, random_bytes: Callable[[int], bytes], *, reuse_s: float = REUSE_S, max_keys: int = MAX_KEYS
    ) -> None:
        self._random_bytes = random_bytes
        self._reuse_s = reuse_s
        self._max_keys = max_keys
        self._by_key: dict[bytes, tuple[float, Encapsulation]] = {}
        """Public key → (monotonic time it was made, encapsulation), oldest first."""

    def to(self, public_key: bytes, now: float) -> Encapsulation:
        """The encapsulation to seal to ``public_key`` with at monotonic time ``now``."""
        kept = self._by_key.get(public_key)
        if kept is not None and 0 <= now - kept[0] < self._reuse_s:
            return kept[1]
        made = encapsulate(public_key, self._random_bytes(KEY_SIZE))  # refuses a bad key, nothing kept
        by_key = self._by_key
        by_key.pop(public_key, None)  # re-inserted last: the dict stays in order of making
        while by_key:  # the oldest first: those past their time go, and one more when full
            oldest = next(iter(by_key))
            if 0 <= now - by_key[oldest][0] < self._reuse_s and len(by_key) < self._max_keys:
                break
            del by_key[oldest]
        by_key[public_key] = (now, made)
        return made

    def __len__(self) -> int:
        return len(self._by_key)


class DecapsulationCache:
    """The worker's key-schedule secret per (key id, ``enc``), for the `MAX_SECRETS` last ones.

    Its `secret` is what `cocoon.e2e.suite.open_base` takes as ``secret_of``. An envelope whose ``enc``
    is not here costs one X25519 as before, so a peer sending fresh ones gains nothing by it.
    """

    def __init__(self, max_secrets: int = MAX_SECRETS) -> None:
        self._max_secrets = max_secrets
        self._secrets: dict[tuple[bytes, bytes], bytes] = {}

    def secret(self, pair: HpkeKeyPair, enc: bytes) -> bytes:
        """`decapsulate`, remembered; `E2EError` as it raises (a refusal is not remembered)."""
        entry = (pair.key_id, enc)
        known = self._secrets.get(entry)
        if known is None:
            known = decapsulate(pair, enc)
            if len(self._secrets) >= self._max_secrets:
                del self._secrets[next(iter(self._secrets))]
            self._secrets[entry] = known
        return known

    def keep_only(self, key_ids: tuple[bytes, ...]) -> None:
        """Forget the secrets of keys not in ``key_ids`` (a rotated-out key's go with it)."""
        self._secrets = {entry: secret for entry, secret in self._secrets.items() if entry[0] in key_ids}

    def __len__(self) -> int:
        return len(self._secrets)
