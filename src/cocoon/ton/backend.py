"""Which TON backend a node talks to, and at what request rate: decided from its settings, pure.

``chain`` selects the backend (``auto`` picks from the other settings):

* ``local``: our ``cocoon chain serve`` at ``chain_url`` (the toncenter API plus local extras), no limit;
* ``toncenter``: a toncenter v2 endpoint at ``chain_url``, with ``chain_api_key`` if any, every request
  through one token bucket per node (``chain_rate_per_s``; 0 = the public limits: 1/s key-less, 10/s
  with a key) and backoff on "too many requests";
* ``lite``: the liteservers of the TON global config file ``ton_config`` (pytoniq's LiteBalancer).

The asyncio side that opens the chosen backend is :func:`cocoon.node.chain.open_chain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cocoon.errors import ConfigError

ChainBackend = Literal["auto", "local", "toncenter", "lite"]
BACKENDS: tuple[str, ...] = ("auto", "local", "toncenter", "lite")

KEYLESS_RATE_PER_S = 1.0
"""What toncenter allows without an API key (about one request per second)."""
KEYED_RATE_PER_S = 10.0
"""What toncenter allows with a (free) API key."""
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ChainChoice:
    """The backend a node opens: its kind, where, and the request rate it keeps to (0: unlimited)."""

    backend: Literal["local", "toncenter", "lite"]
    url: str = ""
    api_key: str = ""
    rate_per_s: float = 0.0
    ton_config: str = ""


def choose_chain(
    chain: str, chain_url: str, chain_api_key: str, chain_rate_per_s: float, ton_config: str
) -> ChainChoice | None:
    """The backend these settings select (None: no chain, off-chain credit only).

    Raises :class:`ConfigError` naming the setting and what to do when they do not fit together.
    """
    if chain not in BACKENDS:
        raise ConfigError(f"chain must be one of {', '.join(BACKENDS)}, not {chain!r}")
    if chain_rate_per_s < 0:
        raise ConfigError(f"chain_rate_per_s must be 0 (the public limit) or more, not {chain_rate_per_s}")
    if chain == "auto":
        if ton_config:
            chain = "lite"
        elif not chain_url:
            return None
        else:
            chain = "local" if _is_loopback(chain_url) and not chain_api_key else "toncenter"
    if chain == "lite":
        if not ton_config:
            raise ConfigError(
                'chain = "lite" needs ton_config: the path of a TON global config file (the JSON with '
                '"liteservers", e.g. the network\'s global.config.json)'
            )
        return ChainChoice("lite", ton_config=ton_config)
    if not chain_url:
        raise ConfigError(
            f'chain = "{chain}" needs chain_url: the http(s) address of the TON API '
            "(`cocoon chain serve` locally, or a toncenter v2 endpoint)"
        )
    _check_url(chain_url)
    if chain == "local":
        return ChainChoice("local", url=chain_url, api_key=chain_api_key, rate_per_s=chain_rate_per_s)
    rate = chain_rate_per_s or (KEYED_RATE_PER_S if chain_api_key else KEYLESS_RATE_PER_S)
    return ChainChoice("toncenter", url=chain_url, api_key=chain_api_key, rate_per_s=rate)


def _host(url: str) -> tuple[str, str]:
    """(scheme, host) of ``url`` ('' when it has none); IPv6 hosts come without their brackets."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", ""
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        return scheme.lower(), authority[1:].split("]", 1)[0]
    return scheme.lower(), authority.split(":", 1)[0].lower()


def _check_url(url: str) -> None:
    scheme, host = _host(url)
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"chain_url {url!r} is not an http(s) URL; give the API's base address, e.g. "
            "https://testnet.toncenter.com or http://127.0.0.1:13000"
        )


def _is_loopback(url: str) -> bool:
    """Whether ``url``'s host is spelled as one of `_LOOPBACK` (case aside, IPv6 brackets removed):
    how ``chain = "auto"`` tells a local chain API from toncenter. Deliberately not
    `cocoon.net.address.is_loopback_ip`: this matches spellings, not addresses, so another loopback
    literal (``127.0.0.2``, ``::ffff:127.0.0.1``, ``::1%lo``) is not local here, and ``localhost`` is."""
    return _host(url)[1] in _LOOPBACK
