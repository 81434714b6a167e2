"""The client's handshake with a COCOON proxy: ``client.connectToProxy``, then short or long auth.

1. ``client.connectToProxy`` with our owner address, the network's test flag and protocol versions
   1..4 (the reference client's range); the proxy answers ``client.connectedToProxy``: its key, owner
   and contract addresses, our client contract's address, and which authorisation it wants.
2. Short auth (``client.proxyConnectionAuthShort``): the proxy holds the SHA-256 of a secret in our
   client contract; when our ``secret`` hashes to it we show the secret
   (``client.authorizeWithProxyShort``). The reference proxy's test mode, and ours without a chain,
   hold the empty secret's hash.
3. Long auth (``client.proxyConnectionAuthLong``, or a short auth whose hash is not our secret's):
   the client contract must be told the proxy's ``nonce`` on chain (``owner_client_register``, sent
   from the owner wallet); `LongAuth.register` does that (and deploys the contract, tops it up and
   syncs the secret hash), then ``client.authorizeWithProxyLong`` waits up to 300 s for the proxy's
   contract watcher to see it. Without a `LongAuth` (no chain configured) the connection fails with
   what to configure.

Either way the proxy answers ``client.authorizationWithProxySuccess`` with our payment state (tokens
committed to its database, the most it extends) or ``client.authorizationWithProxyFailed``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cocoon.errors import PaymentError, RemoteProtocolError
from cocoon.net.cocoon_conn import CocoonConnection
from cocoon.tl.types import (
    AnyProxySignedPayment,
    ClientAuthorizationWithProxyFailed,
    ClientAuthorizationWithProxySuccess,
    ClientAuthorizeWithProxyLong,
    ClientAuthorizeWithProxyShort,
    ClientConnectedToProxy,
    ClientConnectToProxy,
    ClientParams,
    ClientProxyConnectionAuthLong,
    ClientProxyConnectionAuthShort,
    ProxyParams,
)

log = logging.getLogger(__name__)

MIN_PROTO, MAX_PROTO = 1, 4
"""The client protocol versions we speak (the reference client's range)."""
CONNECT_TIMEOUT_S = 30.0
SHORT_AUTH_TIMEOUT_S = 30.0
LONG_AUTH_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class CocoonAccount:
    """Who this client is to COCOON proxies."""

    owner_address: str
    """The TON address that owns (and pays into) our client contracts."""
    secret: bytes = b""
    """The short-auth secret whose SHA-256 the client contracts hold (the reference's test mode holds
    the empty secret's)."""
    is_test: bool = False
    """The network's test flag (the reference's fake-TON test networks set it); must match the proxy's."""
    min_config_version: int = 0
    """The root configuration version we know (the proxy refuses a client ahead of it)."""


class LongAuth(Protocol):
    """The on-chain half of long auth: our client contract told the proxy's nonce."""

    async def register(self, proxy: ProxyParams, client_sc_address: str, nonce: int) -> None:
        """Check ``client_sc_address`` is our contract for ``proxy`` (derived from the root's code),
        deploy or top it up as needed and send ``owner_client_register(nonce)`` from the owner wallet;
        raise `PaymentError` saying why when it cannot."""
        ...

    def stats(self) -> dict[str, Any]:
        """Its counters (registrations, top-ups sent, skipped and expired), for the client's status."""
        ...


class ContractUpkeep(Protocol):
    """Keeps our client contract funded while a proxy serves us."""

    async def keep_funded(self, client_sc_address: str, used_tokens: int) -> bool:
        """Top the contract up if the tokens the proxy counts as used leave too little; True if it did."""
        ...


@dataclass(frozen=True)
class Authorized:
    """A proxy connection that passed its handshake."""

    proxy: ProxyParams
    client_sc_address: str
    auth: Literal["short", "long"]
    proto_version: int
    signed_payment: AnyProxySignedPayment
    tokens_committed_to_db: int
    max_tokens: int


async def authorize(
    conn: CocoonConnection, account: CocoonAccount, long_auth: LongAuth | None, proxy: str
) -> Authorized:
    """Run the handshake of the module docstring on ``conn`` (to ``proxy``, for messages)."""
    params = ClientParams(
        client_owner_address=account.owner_address,
        is_test=account.is_test,
        min_proto_version=MIN_PROTO,
        max_proto_version=MAX_PROTO,
    )
    connected = await conn.query(ClientConnectToProxy(params, account.min_config_version), CONNECT_TIMEOUT_S)
    if not isinstance(connected, ClientConnectedToProxy):
        raise RemoteProtocolError(
            f"proxy {proxy} answered client.connectToProxy with {type(connected).__name__}"
        )
    proto = connected.params.proto_version or 0
    if not MIN_PROTO <= proto <= MAX_PROTO:
        raise RemoteProtocolError(
            f"proxy {proxy} chose protocol version {proto}; we speak {MIN_PROTO}..{MAX_PROTO}"
        )
    auth = connected.auth
    kind: Literal["short", "long"]
    if isinstance(auth, ClientProxyConnectionAuthShort) and _hash(account.secret) == auth.secret_hash:
        kind = "short"
        answer = await conn.query(ClientAuthorizeWithProxyShort(account.secret), SHORT_AUTH_TIMEOUT_S)
    else:
        kind = "long"
        if isinstance(auth, ClientProxyConnectionAuthShort):
            why = "the client contract's secret hash is not that of cocoon_secret"
        else:
            assert isinstance(auth, ClientProxyConnectionAuthLong)
            why = "the proxy does not know our client contract yet"
        if long_auth is None:
            raise PaymentError(
                f"proxy {proxy} asks for long auth ({why}): our client contract "
                f"{connected.client_sc_address} must register its nonce on chain; configure chain_url, "
                "root_address and wallet_key so the client can, or set cocoon_secret to the secret whose "
                "hash the client contract holds"
            )
        log.info("proxy %s: long auth (%s); registering nonce %d on chain", proxy, why, auth.nonce)
        await long_auth.register(connected.params, connected.client_sc_address, auth.nonce)
        answer = await conn.query(ClientAuthorizeWithProxyLong(), LONG_AUTH_TIMEOUT_S)
    if isinstance(answer, ClientAuthorizationWithProxyFailed):
        raise PaymentError(
            f"proxy {proxy} refused our {kind} auth: error {answer.error_code}: {answer.error}"
        )
    if not isinstance(answer, ClientAuthorizationWithProxySuccess):
        raise RemoteProtocolError(f"proxy {proxy} answered our {kind} auth with {type(answer).__name__}")
    return Authorized(
        connected.params,
        connected.client_sc_address,
        kind,
        proto,
        answer.signed_payment,
        answer.tokens_committed_to_db,
        answer.max_tokens,
    )


def _hash(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()
