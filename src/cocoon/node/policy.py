"""The policy a node applies to its peers' attestation, from the names and hash lists of its config.

The ``tdx`` policy verifies against DCAP collateral (:func:`node_collateral`): the config's
``collateral_files`` loaded at start, and its ``pccs_url`` asked before a handshake whose peer's
platform (FMSPC) has none or whose collateral is due for refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cocoon.attestation.policy import AnyPolicy, FakePolicy, Policy
from cocoon.errors import CocoonError, ConfigError

if TYPE_CHECKING:
    from cocoon.attestation.tdx_policy import ReplayMode
    from cocoon.net.collateral import CollateralKeeper

log = logging.getLogger(__name__)


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


def make_policy(
    name: str,
    allowed_image_hashes: frozenset[bytes] = frozenset(),
    *,
    collateral: CollateralKeeper | None = None,
    replay: ReplayMode | None = None,
) -> Policy:
    """The peer policy named in a config (``any``, ``fake``; ``tdx`` with ``collateral``'s DCAP
    collateral, an empty store without it). ``replay`` is development only (recorded quotes)."""
    if name == "any":
        return AnyPolicy()
    if name == "fake":
        return FakePolicy(allowed_image_hashes)
    if name == "tdx":
        from cocoon.attestation.policy import Allowlists
        from cocoon.attestation.tdx_policy import CollateralStore, TdxPolicy
        from cocoon.net.collateral import CollateralKeeper, keep_collateral

        keeper = collateral if collateral is not None else CollateralKeeper(CollateralStore())
        allow = Allowlists(image_hashes=allowed_image_hashes)
        if replay is not None:
            log.warning(
                "DEVELOPMENT ONLY: the tdx policy replays recorded quotes: verified at %d instead of "
                "now%s; never use this with real peers",
                replay.pinned_time,
                ", key binding OFF" if replay.skip_key_binding else "",
            )
        return keep_collateral(TdxPolicy(keeper.store, allow, replay=replay), keeper)
    raise ConfigError(f"unknown policy {name!r}; use 'any', 'fake' or 'tdx'")


def proxy_policy(
    name: str,
    allowed_proxy_image_hashes: Sequence[str],
    *,
    collateral: CollateralKeeper | None = None,
    replay: ReplayMode | None = None,
) -> Policy:
    """What a worker or client asks of its proxies: ``name``'s policy over the configured image hashes."""
    images = hex_set(allowed_proxy_image_hashes, 32, "allowed_proxy_image_hashes")
    return make_policy(name, images, collateral=collateral, replay=replay)


def node_collateral(pccs_url: str, collateral_files: Sequence[str]) -> CollateralKeeper:
    """The DCAP collateral of a node's ``tdx`` policies (one store shared by all of them): the files
    loaded now (`ConfigError` names a bad one), the PCCS at ``pccs_url`` asked when a peer needs more."""
    from cocoon.attestation.dcap import Collateral
    from cocoon.attestation.tdx_policy import CollateralStore
    from cocoon.net.collateral import CollateralKeeper, PccsFetcher, check_pccs_url

    url = check_pccs_url(pccs_url) if pccs_url.strip() else ""
    loaded = []
    for name in collateral_files:
        path = Path(name).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"collateral_files: cannot read {path}: {exc.strerror or exc}") from exc
        try:
            loaded.append(Collateral.from_json(text))
        except CocoonError as exc:
            raise ConfigError(f"collateral_files: {path}: {exc}") from exc
    for c in loaded:
        log.info("DCAP collateral for FMSPC %s loaded (next update at %d)", c.fmspc, c.next_update)
    return CollateralKeeper(CollateralStore(tuple(loaded)), PccsFetcher(url) if url else None)
