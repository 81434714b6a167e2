"""Which browser origins may call the client daemon, and the CORS headers they get (pure).

A web page the user visits can send the daemon a "simple" request (a ``text/plain`` POST, say) with
no preflight; the browser only hides the answer from the page, after the daemon has served and paid
for it. So the daemon itself refuses every request whose ``Origin`` is not configured
(``allowed_origins``), whatever its method. Requests without ``Origin`` (SDKs, curl, servers) are
not browser requests and are not affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cocoon.errors import ConfigError

ALLOWED_METHODS = "GET, POST, OPTIONS"
# Headers a browser page may read from our answers (the request id names the receipt).
EXPOSED_HEADERS = "X-Cocoon-Request-Id, X-Cocoon-Worker, Retry-After"
PREFLIGHT_MAX_AGE_S = 600
_ORIGIN = re.compile(r"(https?)://([a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalize_origin(text: str) -> str:
    """A configured origin in the form browsers send it (``scheme://host[:port]``, lower case, no
    default port), or a `ConfigError` saying what an origin looks like."""
    match = _ORIGIN.fullmatch(text.strip().lower().rstrip("/"))
    if match is None:
        raise ConfigError(
            f"allowed_origins: {text!r} is not an origin; write it as the browser sends it, "
            "e.g. 'https://app.example.com' or 'http://localhost:3000' (no path)"
        )
    scheme, host, port = match.groups()
    return f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """The configured origins; every other origin is refused."""

    allowed: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, origins: list[str]) -> OriginPolicy:
        return cls(frozenset(normalize_origin(o) for o in origins))

    def allows(self, origin: str) -> bool:
        return origin.lower() in self.allowed

    def refusal(self, origin: str) -> str:
        """Why a request from ``origin`` is refused, and how to allow it."""
        return (
            f"Requests from the web origin {origin!r} are not allowed: a web page must not spend this "
            f"daemon's TON. To allow it, add it to the client's allowed_origins."
        )

    @staticmethod
    def response_headers(origin: str) -> dict[str, str]:
        """The CORS headers of an answer to an allowed origin."""
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
            "Vary": "Origin",
        }

    @staticmethod
    def preflight_headers(origin: str, requested_headers: str) -> dict[str, str]:
        """The answer to an allowed origin's preflight: our methods, and the headers it asked for
        (SDKs send their own, e.g. ``x-stainless-*``; authorization is what matters)."""
        return {
            **OriginPolicy.response_headers(origin),
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": requested_headers or "authorization, content-type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
