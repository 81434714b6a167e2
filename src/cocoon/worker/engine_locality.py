"""Engine locality: the worker's engine must run inside the worker's own attested VM.

The worker decrypts prompts (end-to-end) and forwards them to its engine in plain HTTP, so an engine
anywhere else would see them outside the attested VM, and nothing a client verified covers it. A worker
therefore refuses an ``engine_url`` whose host is not loopback unless its config says the engine runs
in the same VM anyway (``engine_remote_ok = true``, e.g. a second network namespace or a bridge address
inside the guest).

Loopback is 127.0.0.0/8, ``::1`` (also written as the IPv4-mapped ``::ffff:127.x.y.z``) and the name
``localhost``. Any other host name is resolved once at start (by the caller, who passes the addresses
in): it is accepted when every address it resolves to is loopback (an ``/etc/hosts`` alias of the
guest), refused when any is not or when it does not resolve. The name is resolved again when the
engine client connects, so this is a start-up check of the guest's own resolver, not a pin: an image
whose resolver can be steered from outside should name the engine by a loopback address.

Unix sockets are not supported: the engine client speaks HTTP over TCP only, and a URL with another
scheme than http/https is refused here. Pure: no sockets, no resolver; `build_worker` resolves.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from cocoon.errors import ConfigError
from cocoon.net.address import is_loopback_ip

LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
"""Host names that mean this machine without asking a resolver (RFC 6761)."""


def engine_host(url: str) -> str:
    """The host of ``engine_url`` (brackets of an IPv6 literal removed); ConfigError if it has none or
    the scheme is not http/https."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"engine_url {url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise ConfigError(
            f"engine_url {url!r} must start with http:// or https:// (the engine client speaks HTTP over "
            "TCP; Unix sockets are not supported), e.g. http://127.0.0.1:8000"
        )
    if not host:
        raise ConfigError(f"engine_url {url!r} names no host, e.g. http://127.0.0.1:8000")
    return host


def literal_locality(host: str) -> bool | None:
    """True for a loopback host without resolving it, False for a non-loopback IP literal, None for a
    host name that must be resolved."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    return is_loopback_ip(host)


def engine_refusal(url: str, host: str, addresses: Sequence[str] | None) -> ConfigError:
    """Why the worker refuses the engine at ``url``: ``addresses`` is what ``host`` resolved to (None:
    an IP literal; empty: it did not resolve)."""
    if addresses is None:
        where = f"{host} is not a loopback address"
    elif not addresses:
        where = f"{host} does not resolve, so it cannot be shown to be loopback"
    else:
        where = f"{host} resolves to {', '.join(sorted(set(addresses)))}, not only loopback addresses"
    return ConfigError(
        f"engine_url {url} is not on this machine's loopback ({where}): the worker sends decrypted prompts "
        "to its engine in plain HTTP, so they would leave the attested VM. Run the engine inside the same "
        "VM and point engine_url at 127.0.0.1 / [::1] / localhost, or, if this address is inside the same "
        "attested VM, set engine_remote_ok = true"
    )


def check_resolved(url: str, host: str, addresses: Sequence[str]) -> None:
    """Accept ``host`` when it resolved to loopback addresses only; else raise `engine_refusal`."""
    if not addresses or not all(is_loopback_ip(a) for a in addresses):
        raise engine_refusal(url, host, addresses)
