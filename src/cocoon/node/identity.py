"""A node's RA-TLS identity: its quote provider, its certificate (re-issued before it expires) and
the claims signed into it.

Live connections keep the certificate they were opened with; :func:`refresh_certificates` issues the
next one in the background, hourly (:meth:`NodeIdentity.needs_refresh`). A worker's identity also
holds its end-to-end HPKE keys (a `Keyring`, in memory only): each issue makes a new key pair and
publishes it in the statement.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable

import msgspec

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.providers import FakeQuoteProvider, QuoteProvider
from cocoon.attestation.statement import Statement, make_statement
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.e2e.keyring import Keyring
from cocoon.errors import ConfigError
from cocoon.node.keys import load_or_create_key
from cocoon.node.running import NodeDeps
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig

log = logging.getLogger(__name__)


def quote_provider(name: str) -> QuoteProvider:
    """The quote provider named in a config (``fake`` or ``tdx``)."""
    if name == "fake":
        return FakeQuoteProvider()
    if name == "tdx":
        from cocoon.attestation.tdx_provider import ConfigfsTsmProvider

        return ConfigfsTsmProvider()
    raise ConfigError(f"unknown quote provider {name!r}; use 'fake' (development) or 'tdx' (inside a TD)")


def make_identity(
    data_dir: str,
    provider_name: str,
    *,
    claims: Statement | None = None,
    clock: Clock = SYSTEM_CLOCK,
    provider: QuoteProvider | None = None,
    keyring: Keyring | None = None,
) -> NodeIdentity:
    """The node's RA-TLS identity with a fresh certificate (signing ``claims`` into it when given).

    ``provider`` replaces the one ``provider_name`` names (tests pass their own). ``keyring`` (a
    worker's): rotated at every issue with claims, its current key published in the statement.
    """
    identity = NodeIdentity(
        load_or_create_key(data_dir),
        provider or quote_provider(provider_name),
        os.urandom,
        claims=claims,
        keyring=keyring,
    )
    identity.issue(clock.time())
    return identity


def config_hash(config: msgspec.Struct) -> bytes:
    """SHA-256 of a role config's canonical JSON (fields in declaration order), for statements."""
    return hashlib.sha256(msgspec.json.encode(config)).digest()


def config_claims(config: msgspec.Struct) -> Statement:
    """The statement of a node that serves no model (proxies): its config hash, re-dated at each issue."""
    return make_statement(0, config_hash=config_hash(config))


async def refresh_certificates(
    identity: NodeIdentity,
    check_every_s: float = 60.0,
    *,
    clock: Clock = SYSTEM_CLOCK,
    on_issue: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Re-issue the certificate when it is due (hourly); runs until cancelled.

    ``on_issue`` is awaited after each re-issue (a worker re-sends its offer, whose certificate
    carries its new end-to-end key).
    """
    while True:
        await asyncio.sleep(check_every_s)
        now = clock.time()
        if identity.needs_refresh(now):
            await asyncio.to_thread(identity.issue, now)
            log.info("issued a fresh RA-TLS certificate")
            if on_issue is not None:
                await on_issue()


def node_identity(
    config: WorkerConfig | ClientConfig | ProxyConfig,
    deps: NodeDeps,
    *,
    claims: Statement | None = None,
    keyring: Keyring | None = None,
) -> NodeIdentity:
    """:func:`make_identity` of a role's config, with ``deps``' quote provider and clock."""
    return make_identity(
        config.data_dir,
        config.quote_provider,
        claims=claims,
        clock=deps.clock,
        provider=deps.quote_provider,
        keyring=keyring,
    )
