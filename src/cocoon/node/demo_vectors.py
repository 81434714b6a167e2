"""Demo mode ``tdx-vectors`` (development only): nodes present and verify *recorded* TDX quotes.

`cocoon up --attestation tdx-vectors` shows the ``tdx`` policy at work without TDX hardware: each
worker presents a real recorded quote (the shared vector ``dcap-tdx-quote.bin``), the proxy and the
client verify it with full DCAP against collateral from a local PCCS, at a time pinned inside that
collateral's window (``tcbInfo.issueDate`` + 1 h), and without the key binding, which no recorded
quote can satisfy (`cocoon.attestation.tdx_policy.ReplayMode`).

Only the environment variable :data:`DEMO_ENV` (the directory of the two vector files), which
`cocoon up` sets for the processes it starts, enables it: no config file setting does. A node whose
config says ``quote_provider = "tdx"`` (a real TD) refuses to start in it, and every node in it logs a
warning at start.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cocoon.attestation.dcap import Collateral, format_utc, parse_utc
from cocoon.attestation.measurements import image_hash
from cocoon.attestation.providers import StaticQuoteProvider
from cocoon.attestation.quote import parse_quote
from cocoon.attestation.tdx_policy import ReplayMode
from cocoon.errors import CocoonError, ConfigError, DecodeError
from cocoon.node.running import NodeDeps

log = logging.getLogger(__name__)

DEMO_ENV = "COCOON_DEMO_TDX_VECTORS"
QUOTE_FILE = "dcap-tdx-quote.bin"
COLLATERAL_FILE = "dcap-tdx-quote-collateral.json"
PIN_AFTER_ISSUE_S = 3600
"""The pinned time is this long after the TCB info's issue date (where the vectors verify UpToDate)."""

D = TypeVar("D", bound=NodeDeps)


@dataclass(frozen=True, slots=True)
class TdxVectorsDemo:
    """The recorded quote, its collateral file and the time they are verified at."""

    quote: bytes
    collateral_file: Path
    pinned_time: int

    @property
    def replay(self) -> ReplayMode:
        """What the demo's ``tdx`` policies run with."""
        return ReplayMode(self.pinned_time)

    @property
    def image_hash(self) -> bytes:
        """The image hash of the recorded quote (what the root must allow for the demo's workers)."""
        return image_hash(parse_quote(self.quote).measurements)


def load_demo(directory: Path) -> TdxVectorsDemo:
    """The demo's vectors from ``directory``; `ConfigError` names a missing or unreadable file."""
    try:
        quote = (directory / QUOTE_FILE).read_bytes()
        text = (directory / COLLATERAL_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"demo tdx-vectors: cannot read {exc.filename} ({exc.strerror}); it needs {QUOTE_FILE} and "
            f"{COLLATERAL_FILE} in {directory}"
        ) from exc
    try:
        parse_quote(quote)
        Collateral.from_json(text)
        issued = parse_utc(json.loads(json.loads(text)["tcb_info"])["issueDate"])
    except (DecodeError, CocoonError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"demo tdx-vectors: the vectors in {directory} do not load: {exc}") from exc
    return TdxVectorsDemo(quote, directory / COLLATERAL_FILE, issued + PIN_AFTER_ISSUE_S)


def demo_from_env(quote_provider: str, environ: Mapping[str, str] | None = None) -> TdxVectorsDemo | None:
    """The demo when :data:`DEMO_ENV` is set (logged loudly), else None; refused on a real TD."""
    value = (environ if environ is not None else os.environ).get(DEMO_ENV, "")
    if not value:
        return None
    if quote_provider == "tdx":
        raise ConfigError(
            f"{DEMO_ENV} is set on a node with quote_provider = 'tdx': the tdx-vectors demo replays "
            "recorded quotes and must never run on a real TD; unset it"
        )
    demo = load_demo(Path(value))
    log.warning(
        "DEMO MODE tdx-vectors (%s=%s): this node presents a RECORDED TDX quote and its tdx policies "
        "accept recorded quotes verified at %s without the key binding; never use it with real peers",
        DEMO_ENV,
        value,
        format_utc(demo.pinned_time),
    )
    return demo


def apply_demo(quote_provider: str, deps: D, *, present_quote: bool) -> tuple[D, ReplayMode | None]:
    """When the demo is on: ``deps`` with the recorded quote as the quote provider (if
    ``present_quote``: the workers), and the replay mode of the node's ``tdx`` policies; else
    ``deps`` unchanged and None."""
    demo = demo_from_env(quote_provider)
    if demo is None:
        return deps, None
    if present_quote and deps.quote_provider is None:
        deps = dataclasses.replace(deps, quote_provider=StaticQuoteProvider(demo.quote, "tdx-vector"))
    return deps, demo.replay
