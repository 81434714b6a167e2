"""The policy a node applies to its peers' attestation, from the names and hash lists of its config."""

from __future__ import annotations

from collections.abc import Sequence

from cocoon.attestation.policy import AnyPolicy, FakePolicy, Policy
from cocoon.errors import ConfigError


def hex_set(values: Sequence[str], size: int, key: str) -> frozenset[bytes]:
    """Hex strings of ``size`` bytes from config key ``key`` as a set; `ConfigError` names a bad value."""
    out = set()
    for value in values:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(raw) != size:
            raise ConfigError(f"{key}: {value!r} is not {size} bytes of hex ({2 * size} hex digits)")
        out.add(raw)
    return frozenset(out)


def make_policy(name: str, allowed_image_hashes: frozenset[bytes] = frozenset()) -> Policy:
    """The peer policy named in a config (``any``, ``fake``; ``tdx`` needs DCAP collateral)."""
    if name == "any":
        return AnyPolicy()
    if name == "fake":
        return FakePolicy(allowed_image_hashes)
    if name == "tdx":
        from cocoon.attestation.policy import Allowlists
        from cocoon.attestation.tdx_policy import CollateralStore, TdxPolicy

        return TdxPolicy(CollateralStore(), Allowlists(image_hashes=allowed_image_hashes))
    raise ConfigError(f"unknown policy {name!r}; use 'any', 'fake' or 'tdx'")


def proxy_policy(name: str, allowed_proxy_image_hashes: Sequence[str]) -> Policy:
    """What a worker or client asks of its proxies: ``name``'s policy over the configured image hashes."""
    images = hex_set(allowed_proxy_image_hashes, 32, "allowed_proxy_image_hashes")
    return make_policy(name, images)
