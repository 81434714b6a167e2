"""One COCOON client connection on the proxy: handshake, authorization, requests, payment status.

States follow the reference proxy (``ProxyInboundClientConnection``): ``client.connectToProxy`` first
(protocol versions 1..4 overlap, ``is_test`` present, a parseable owner address, a config version this
proxy has), answered ``client.connectedToProxy``; then one authorization query; then requests.

*Addresses.* Those of ``client.connectedToProxy`` (proxy owner, proxy contract, client contract) are
written as the reference proxy writes them (`reference_form`), with or without a chain: a reference
client compares them with the ones it derives, flags included.

*Identity and account.* The client is its TLS key (``client_id``, as on our own client port, so one key
has one account on both ports) paying through the client contract of (this proxy, its
``client_owner_address``): the same `ClientBook`, reservations, ledger and settlement as our clients.

*Authorization.* On a chain: the contract deployed with a non-zero secret hash is answered
``proxyConnectionAuthShort{secret_hash, nonce}``, and ``authorizeWithProxyShort{data}`` binds the client
to the contract when ``sha256(data)`` is that hash (the settlement's own check); otherwise
``proxyConnectionAuthLong{nonce}``, and ``authorizeWithProxyLong`` waits (up to 300 s) for the register
note with that nonce from that owner's contract (`cocoon.proxy.cocoon_auth`). Without a chain, as the
reference in its fake-TON test mode, every client has a contract whose secret is the empty string:
``Short{sha256(""), nonce 0}``, short authorization with the empty secret or long authorization
succeeds at once, and the client spends the proxy's off-chain credit (``local_client_credit_nano``),
as our clients do.
A failed authorization answers ``authorizationWithProxyFailed`` and closes the connection.

*Payments.* ``signed_payment`` is the proxy's signed charge of the client contract for the channel's
chain-committed total (a BoC, what our settlement signs and pushes to our clients), or
``proxy.signedPaymentEmpty`` while nothing is committed on chain (always without a chain);
``db_tokens``/``max_tokens`` are the channel's committed-to-database and running totals (without a
chain: tokens charged in the ledger, both). After each request the client gets
``proxy.clientRequestPayment`` with the tokens charged for it; every channel move the settlement pushes
arrives as one too, with a zero request id and ``request_tokens`` 0.

*Violations.* A query or packet in the wrong state, an unknown query, a duplicate request id in flight:
the connection is closed with a logged reason; nothing is reserved or charged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING, NoReturn

from cocoon.api.validation import DEFAULT_LIMITS
from cocoon.errors import CocoonError, ConnectionClosedError, RequestError
from cocoon.net.cocoon_session import CocoonConnection, CocoonQueryError
from cocoon.proxy.cocoon_answers import CocoonAnswer
from cocoon.proxy.cocoon_auth import new_nonce
from cocoon.proxy.cocoon_requests import run_query_of
from cocoon.proxy.cocoon_views import (
    NO_REQUEST,
    payment_status,
    request_payment,
    signed_payment_of,
    worker_types,
    worker_types_v2,
)
from cocoon.proxy.ledger import CLIENT_CHANNEL
from cocoon.tl.base import TLObject
from cocoon.tl.types import (
    ClientAuthorizationWithProxyFailed,
    ClientAuthorizationWithProxySuccess,
    ClientAuthorizeWithProxyLong,
    ClientAuthorizeWithProxyShort,
    ClientConnectedToProxy,
    ClientConnectToProxy,
    ClientGetWorkerTypes,
    ClientGetWorkerTypesV2,
    ClientProxyConnectionAuthLong,
    ClientProxyConnectionAuthShort,
    ClientRunQueryEx,
    ClientUpdatePaymentStatus,
    ProxyParams,
    ProxySignedPaymentEmpty,
)
from cocoon.ton.address import Address, is_test_only
from cocoon.wire.control import RegisterClient
from cocoon.wire.messages import PaymentUpdate

if TYPE_CHECKING:
    from cocoon.proxy.cocoon_port import CocoonPort

log = logging.getLogger(__name__)

MIN_PROTO, MAX_PROTO = 1, 4
"""Client protocol versions served (``client.runQueryEx`` and the ``*Ex`` answers)."""
MAX_RUNNING = 256
"""Requests one connection may have in flight (more is a flood: the connection is closed)."""
ERROR = 602
"""TON's ``error`` code, for refused handshake queries (as the reference proxy answers them)."""
PROTOVIOLATION = 621
"""TON's protocol-violation code."""
ZERO_ADDRESS = Address(0, bytes(32))
"""What ``proxy.params``/``client_sc_address`` say without a chain (and no fake root): no contract."""
OFF_CHAIN_SECRET_HASH = hashlib.sha256(b"").digest()
"""Without a chain the secret is empty, as in the reference's fake-TON mode."""


def reference_form(address: Address, *, testnet: bool) -> str:
    """An address as the reference proxy writes it: user-friendly, non-bounceable, test-only on a TON
    testnet. A reference client compares the parsed address with the one it derives, flags included
    (non-bounceable, its network's test-only flag), so the raw form never matches."""
    return address.friendly(bounceable=False, testnet=testnet)


class CocoonClientSession:
    """The proxy's side of one COCOON client connection (see the module docstring)."""

    def __init__(self, port: CocoonPort, conn: CocoonConnection) -> None:
        self.port = port
        self.service = port.service
        self.conn = conn
        peer = conn.peer
        self.client_id = peer.public_key.hex() if peer is not None else ""
        self.state = "new"  # new -> auth -> ready; failed
        self.owner: Address | None = None
        self.proto = 0
        self.nonce = 0
        self.secret_hash = 0
        self.missing_contract: Address | None = None
        """On a chain: the client contract the client must open first (not deployed at its hello)."""
        self._next_id = 0
        self._running: dict[bytes, asyncio.Task[None]] = {}
        self._closing: asyncio.Task[None] | None = None

    # --- the connection's handlers ----------------------------------------------------------------

    async def on_query(self, obj: TLObject) -> TLObject:
        """Answer one query, or refuse it and close the connection."""
        match obj:
            case ClientConnectToProxy() if self.state == "new":
                return await self._connect(obj)
            case ClientAuthorizeWithProxyShort() if self.state == "auth":
                return await self._authorize_short(obj.data)
            case ClientAuthorizeWithProxyLong() if self.state == "auth":
                return await self._authorize_long()
            case ClientUpdatePaymentStatus() if self.state == "ready":
                return payment_status(self.service.client_payment_status(self.client_id))
            case ClientGetWorkerTypesV2() if self.state == "ready":
                return worker_types_v2(self.service.workers.worker_types())
            case ClientGetWorkerTypes() if self.state == "ready":
                return worker_types(self.service.workers.worker_types())
        self.close_soon(f"query {type(obj).__name__} is not expected in state {self.state}")
        raise CocoonQueryError(PROTOVIOLATION, f"unexpected query {type(obj).__name__} in state {self.state}")

    async def on_packet(self, obj: TLObject) -> None:
        """Start a request (it runs on its own), or close the connection on anything else."""
        if isinstance(obj, ClientRunQueryEx) and self.state == "ready":
            if obj.request_id in self._running:
                self.close_soon(f"request id {obj.request_id.hex()} is already running")
                return
            if len(self._running) >= MAX_RUNNING:
                self.close_soon(f"more than {MAX_RUNNING} requests at once on one connection")
                return
            task = asyncio.create_task(self._run(obj), name=f"cocoon request {obj.request_id.hex()[:16]}")
            self._running[obj.request_id] = task
            task.add_done_callback(lambda _: self._running.pop(obj.request_id, None))
            return
        self.close_soon(f"packet {type(obj).__name__} is not expected in state {self.state}")

    def close_soon(self, reason: str) -> None:
        """Close the connection once the current answer is written (logged with ``reason``, counted once).

        The close runs as its own task: the answer being written now goes out first (the connection
        writes it before its next suspension point)."""
        if self._closing is not None:
            return
        log.warning("cocoon client %s: closing: %s", self.client_id[:16], reason)
        self.state = "failed"
        self.port.count_violation()
        self._closing = asyncio.get_running_loop().create_task(self.conn.aclose(reason))

    async def closed(self) -> None:
        """The connection ended: stop its requests, forget its nonce and payment pushes."""
        self.state = "failed"
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.nonce:
            self.port.registers.forget(self.nonce)
        chain = self.service.chain
        if chain is not None:
            chain.forget_client(self.client_id, self)

    # --- handshake --------------------------------------------------------------------------------

    async def _connect(self, query: ClientConnectToProxy) -> ClientConnectedToProxy:
        params = query.params
        if params.is_test is None:
            self._refuse("too old client: client.params must carry is_test (flags bit 0)")
        low = params.min_proto_version if params.min_proto_version is not None else 0
        high = params.max_proto_version if params.max_proto_version is not None else 0
        self.proto = min(high, MAX_PROTO)
        if self.proto < max(low, MIN_PROTO):
            self._refuse(
                f"no common protocol version: the client speaks {low}..{high}, this proxy "
                f"{MIN_PROTO}..{MAX_PROTO}"
            )
        try:
            owner = self.owner = Address.parse(params.client_owner_address)
        except CocoonError as exc:
            self._refuse(f"cannot parse client owner address {params.client_owner_address!r}: {exc}")
        # The reference proxy flags addresses test-only on a TON testnet (its is_testnet). Ours has no
        # such setting; the client's own wallet address carries its network's flag, and a client
        # compares with that flag, so the addresses are written in the form of the client's network.
        testnet = is_test_only(params.client_owner_address)
        version = self.port.root_version
        if version is not None and query.min_config_version > version:
            self._refuse(
                f"active config version is too low: this proxy runs {version}, the client needs "
                f"{query.min_config_version}"
            )
        self.service.ledger.ensure_client(self.client_id, self.service.off_chain_credit)
        chain = self.service.chain
        if chain is None:
            auth: ClientProxyConnectionAuthShort | ClientProxyConnectionAuthLong = (
                ClientProxyConnectionAuthShort(secret_hash=OFF_CHAIN_SECRET_HASH, nonce=0)
            )
            proxy_contract = client_contract = ZERO_ADDRESS
            key = self.service.identity.public_key
            if (root := self.port.fake_root) is not None:  # the addresses a reference client derives
                proxy_contract = root.proxy_contract(ZERO_ADDRESS, key)
                client_contract = root.client_contract(owner, proxy_contract, key)
            proxy = ProxyParams(
                proxy_public_key=key,
                proxy_owner_address=reference_form(ZERO_ADDRESS, testnet=testnet),
                proxy_sc_address=reference_form(proxy_contract, testnet=testnet),
                is_test=params.is_test,
                proto_version=self.proto,
            )
            self.state = "auth"
            return ClientConnectedToProxy(
                proxy, reference_form(client_contract, testnet=testnet), auth, ProxySignedPaymentEmpty()
            )
        contract, view = await chain.clients.contract_view(owner)
        self.missing_contract = contract if view is None else None
        self.nonce = new_nonce()
        self.port.registers.expect(owner.raw, self.nonce)
        if view is not None and view.secret_hash:
            self.secret_hash = view.secret_hash
            auth = ClientProxyConnectionAuthShort(
                secret_hash=view.secret_hash.to_bytes(32, "big"), nonce=self.nonce
            )
        else:
            auth = ClientProxyConnectionAuthLong(nonce=self.nonce)
        proxy = ProxyParams(
            proxy_public_key=chain.public_key.to_bytes(32, "big"),
            proxy_owner_address=reference_form(chain.owner, testnet=testnet),
            proxy_sc_address=reference_form(chain.contract, testnet=testnet),
            is_test=params.is_test,
            proto_version=self.proto,
        )
        self.state = "auth"
        signed = chain.signer.signed_payment(CLIENT_CHANNEL, owner.raw) if view is not None else None
        written = reference_form(contract, testnet=testnet)
        return ClientConnectedToProxy(proxy, written, auth, signed_payment_of(signed))

    def _refuse(self, why: str) -> NoReturn:
        """Refuse a handshake query (an error answer) and close the connection, as the reference does."""
        self.close_soon(why)
        raise CocoonQueryError(ERROR, why)

    async def _authorize_short(self, secret: bytes) -> TLObject:
        chain = self.service.chain
        assert self.owner is not None
        if chain is None:
            if hashlib.sha256(secret).digest() != OFF_CHAIN_SECRET_HASH:
                return self._failed(
                    "sha256 mismatch: this proxy runs without a chain, where the secret is empty"
                )
            return self._authorized()
        if not self.secret_hash or int.from_bytes(hashlib.sha256(secret).digest(), "big") != self.secret_hash:
            return self._failed(
                "sha256 mismatch: the secret does not match the client contract's secret_hash"
            )
        try:
            answer = await chain.register_client(self.client_id, RegisterClient(self.owner.raw, secret), self)
        except CocoonError as exc:
            return self._failed(str(exc))
        if not answer.deployed:
            return self._failed("the client contract is not deployed; deploy it and connect again")
        return self._authorized()

    async def _authorize_long(self) -> TLObject:
        chain = self.service.chain
        assert self.owner is not None
        if chain is not None:
            if not await self.port.registers.wait(self.nonce, self.port.long_auth_timeout_s):
                if (missing := self.missing_contract) is not None:
                    return self._failed(
                        f"this proxy is paid on chain and client contract {missing.raw} of {self.owner.raw} "
                        "is not deployed: open it with this proxy (deploy it, top up its stake), connect "
                        "again and send owner_client_register with the nonce the proxy then gives"
                    )
                return self._failed(
                    f"no register note with nonce {self.nonce} from the client contract of {self.owner.raw} "
                    f"within {self.port.long_auth_timeout_s:g} s; send owner_client_register with it"
                )
            chain.clients.bind(self.client_id, self.owner, self)
        return self._authorized()

    def _authorized(self) -> ClientAuthorizationWithProxySuccess:
        self.state = "ready"
        if self.nonce:
            self.port.registers.forget(self.nonce)
        status = self.service.client_payment_status(self.client_id)
        log.info("cocoon client %s authorized for owner %s", self.client_id[:16], self.owner)
        return ClientAuthorizationWithProxySuccess(
            signed_payment_of(status.signed_payment), status.committed_to_db, status.tokens_max
        )

    def _failed(self, why: str) -> ClientAuthorizationWithProxyFailed:
        self.close_soon(f"authorization failed: {why}")
        return ClientAuthorizationWithProxyFailed(error_code=ERROR, error=why)

    # --- queries once ready -----------------------------------------------------------------------

    # --- requests ---------------------------------------------------------------------------------

    async def _run(self, query: ClientRunQueryEx) -> None:
        answer = CocoonAnswer(query.request_id, self.conn.send_packet, self.service.params.price_per_token)
        self._next_id += 1
        try:
            try:
                request = run_query_of(query, self._next_id, self.port.root_version, DEFAULT_LIMITS)
            except RequestError as exc:
                self.port.refused_requests += 1
                await answer.error(exc.status, exc.code or "invalid_request", exc.message, param=exc.param)
                return
            chain = self.service.chain
            if chain is not None and (why := chain.refusal) is not None:
                await answer.error(503, "proxy_unavailable", why)
                return
            await self.service.router.handle(self.client_id, request, answer)
            if answer.ended_ok:
                await self._push_payment(query.request_id, answer.charged_tokens)
        except ConnectionClosedError as exc:
            log.info(
                "cocoon client %s left during request %s: %s",
                self.client_id[:16],
                query.request_id.hex()[:16],
                exc,
            )
        except CocoonError as exc:
            log.warning(
                "cocoon client %s: request %s failed: %s",
                self.client_id[:16],
                query.request_id.hex()[:16],
                exc,
            )

    async def _push_payment(self, request_id: bytes, request_tokens: int) -> None:
        status = self.service.client_payment_status(self.client_id)
        push = request_payment(
            request_id, status.signed_payment, status.committed_to_db, status.tokens_max, request_tokens
        )
        await self.conn.send_packet(push)

    async def send_payment_update(self, update: PaymentUpdate) -> None:
        """A settlement push for the client's channel (`PaymentPeer`): sent as ``proxy.clientRequestPayment``
        with a zero request id (the reference client reads its totals and signature whatever the id)."""
        push = request_payment(
            NO_REQUEST, update.signed_payment, update.committed_to_db, update.tokens_max, 0
        )
        await self.conn.send_packet(push)
