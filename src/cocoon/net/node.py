"""What every node process needs to take part in the network: its key, its RA-TLS identity, the
policy it applies to peers, and peer addresses.

The node key lives in ``<data_dir>/node.key`` (raw 32-byte Ed25519 seed, mode 0600) so a restarted
node keeps its identity; without a data dir the key is ephemeral. Certificates are re-issued before
they expire by `refresh_certificates` (live connections keep their certificate).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import AnyPolicy, FakePolicy, Policy
from cocoon.attestation.providers import FakeQuoteProvider, QuoteProvider
from cocoon.attestation.statement import Statement, make_statement
from cocoon.errors import ConfigError

log = logging.getLogger(__name__)

KEY_FILE = "node.key"


def load_or_create_key(data_dir: str) -> Ed25519PrivateKey:
    """The node's Ed25519 key from ``<data_dir>/node.key``, created (mode 0600) on first use."""
    if not data_dir:
        return Ed25519PrivateKey.generate()
    path = Path(data_dir).expanduser() / KEY_FILE
    if path.exists():
        seed = path.read_bytes()
        if len(seed) != 32:
            raise ConfigError(f"{path} is not a 32-byte Ed25519 seed; move it away to create a new key")
        return Ed25519PrivateKey.from_private_bytes(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(seed)
    return key


def quote_provider(name: str) -> QuoteProvider:
    """The quote provider named in a config (``fake`` or ``tdx``)."""
    if name == "fake":
        return FakeQuoteProvider()
    if name == "tdx":
        from cocoon.attestation.tdx_provider import ConfigfsTsmProvider

        return ConfigfsTsmProvider()
    raise ConfigError(f"unknown quote provider {name!r}; use 'fake' (development) or 'tdx' (inside a TD)")


def make_identity(
    data_dir: str, provider_name: str, now: float | None = None, *, claims: Statement | None = None
) -> NodeIdentity:
    """The node's RA-TLS identity with a fresh certificate (signing ``claims`` into it when given)."""
    return NodeIdentity.create(
        load_or_create_key(data_dir),
        quote_provider(provider_name),
        os.urandom,
        time.time() if now is None else now,
        claims=claims,
    )


def config_hash(config: msgspec.Struct) -> bytes:
    """SHA-256 of a role config's canonical JSON (fields in declaration order), for statements."""
    return hashlib.sha256(msgspec.json.encode(config)).digest()


def config_claims(config: msgspec.Struct) -> Statement:
    """The statement of a node that serves no model (proxies): its config hash, re-dated at each issue."""
    return make_statement(0, config_hash=config_hash(config))


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


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:11001"`` -> ``("127.0.0.1", 11001)`` with a clear error otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not host:port (e.g. 127.0.0.1:11001)")
    return host.strip("[]"), int(port)


async def refresh_certificates(identity: NodeIdentity, check_every_s: float = 60.0) -> None:
    """Re-issue the certificate when it is due (hourly); runs until cancelled."""
    while True:
        await asyncio.sleep(check_every_s)
        now = time.time()
        if identity.needs_refresh(now):
            await asyncio.to_thread(identity.issue, now)
            log.info("issued a fresh RA-TLS certificate")
