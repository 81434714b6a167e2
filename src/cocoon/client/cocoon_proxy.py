"""Proxies that speak COCOON's own client protocol (``cocoon_proxies``): the reference's or ours.

`CocoonProxies` keeps one connection per address (PoW, TLS 1.3, ``tcp.connect``:
`cocoon.net.cocoon_conn.connect_cocoon`; the proxy's attestation checked when a policy is given),
authorised as `cocoon.client.cocoon_auth` says, re-opened with capped, jittered backoff when it
fails or ends. Each live one is a `CocoonLink`, which the client's `ProxyPool` picks among its own
proxy connections by load:

- `CocoonLink.run` sends a request as ``client.runQueryEx`` and returns its answer as the same parts
  the HTTP layer reads from our network (`cocoon.client.cocoon_answer.AnswerMapper`), within the
  request's timeout; the protocol has no cancel message, so `cancel` only stops listening;
- the payment state is asked for every 10-20 s (``client.updatePaymentStatus``, as the reference
  client does) and taken from the proxy's ``proxy.clientRequestPayment`` pushes; a proxy whose
  committed tokens go backwards is dropped (a rolled-back database); with a chain, the client contract
  is then topped up when the proxy's count leaves it low (`ContractUpkeep`, ``auto_top_up``);
- `CocoonLink.worker_types` lists the models (``client.getWorkerTypesV2``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cocoon.api.validation import ValidatedRequest
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import Policy
from cocoon.client.backend import ClientProtocol, Privacy
from cocoon.client.cocoon_answer import AnswerMapper, run_query
from cocoon.client.cocoon_auth import Authorized, CocoonAccount, ContractUpkeep, LongAuth, authorize
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import CocoonError, ConnectionClosedError, RequestError
from cocoon.net.address import parse_host_port
from cocoon.net.cocoon_conn import CocoonConnection, connect_cocoon
from cocoon.tl.base import TLObject
from cocoon.tl.types import (
    ClientGetWorkerTypesV2,
    ClientPaymentStatus,
    ClientUpdatePaymentStatus,
    ClientWorkerTypesV2,
    ProxyClientRequestPayment,
    ProxySignedPayment,
)
from cocoon.wire.control import WorkerLoad, WorkerType, WorkerTypes
from cocoon.wire.messages import AnswerEnd, AnswerError, AnswerPart

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0  # the reference re-dials every 10 s
STATUS_EVERY_S = (10.0, 20.0)
STATUS_TIMEOUT_S = 60.0
MODELS_TIMEOUT_S = 10.0


@dataclass
class PaymentState:
    """The client's account at one proxy, as the proxy last signed or stated it."""

    db_tokens: int = 0
    max_tokens: int = 0
    signed_payment: bytes | None = None
    updates: int = 0


class CocoonAnswer:
    """One answer from a COCOON proxy (a `cocoon.client.backend.BackendAnswer`)."""

    protocol = ClientProtocol.COCOON
    """No receipt and no end-to-end encryption by protocol: the relay tells the app and the stats."""

    def __init__(
        self,
        link: CocoonLink,
        key: bytes,
        queue: asyncio.Queue[AnswerPart],
        request_id: int,
        timeout_s: float,
        privacy: Privacy,
    ) -> None:
        self._link, self._key, self._queue = link, key, queue
        self._request_id, self._timeout_s = request_id, timeout_s
        self.privacy = privacy

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        # At the deadline one timer queues the answer's end (as `NetworkAnswer`'s, it never cancels
        # the task that reads this, and an answer already whole is read whole).
        deadline = asyncio.get_running_loop().call_later(self._timeout_s, self._expire)
        try:
            while True:
                part = await self._queue.get()
                yield part
                if isinstance(part, AnswerEnd | AnswerError):
                    return
        finally:
            deadline.cancel()
            self._link.forget(self._key)

    def _expire(self) -> None:
        message = f"no complete answer from COCOON proxy {self._link.address} within {self._timeout_s:g} s"
        self._queue.put_nowait(AnswerError(self._request_id, 504, "timeout", message))

    async def cancel(self, reason: str) -> None:
        # COCOON has no cancel message: the proxy and worker finish the request (and charge for it).
        log.info(
            "COCOON proxy %s: request %x abandoned (%s); it cannot be cancelled upstream",
            self._link.address,
            self._request_id,
            reason,
        )
        self._link.forget(self._key)


class CocoonLink:
    """One authorised connection to a COCOON proxy (see the module docstring)."""

    def __init__(
        self,
        address: str,
        conn: CocoonConnection,
        authorized: Authorized,
        *,
        price_per_token: int | None = None,
        upkeep: ContractUpkeep | None = None,
    ) -> None:
        self.address = address
        self.upkeep = upkeep
        self.conn = conn
        self.authorized = authorized
        self.price_per_token = price_per_token
        self.payment = PaymentState(authorized.tokens_committed_to_db, authorized.max_tokens)
        self._take_signed(authorized.signed_payment)
        self._answers: dict[bytes, tuple[AnswerMapper, asyncio.Queue[AnswerPart]]] = {}
        self.requests = 0
        self.dropping: asyncio.Task[None] | None = None
        """The close of a proxy dropped for a rolled-back account (not awaited in the packet handler)."""

    @property
    def active_streams(self) -> int:
        """Requests whose answer is still awaited (what the pool balances on)."""
        return len(self._answers)

    async def run(self, request: ValidatedRequest, request_id: int, privacy: Privacy) -> CocoonAnswer:
        """Send ``request``; its answer. `RequestError` (502) when the connection is gone."""
        key = os.urandom(32)
        mapper = AnswerMapper(
            request_id, self.address, stream=request.stream, price_per_token=self.price_per_token
        )
        queue: asyncio.Queue[AnswerPart] = asyncio.Queue()
        self._answers[key] = (mapper, queue)
        try:
            await self.conn.send_packet(run_query(request, key, timeout_s=request.timeout_s))
        except ConnectionClosedError as exc:
            self.forget(key)
            raise RequestError(
                f"the connection to COCOON proxy {self.address} closed: {exc}",
                status=502,
                error_type="upstream_error",
                code="upstream_error",
            ) from exc
        self.requests += 1
        return CocoonAnswer(self, key, queue, request_id, request.timeout_s, privacy)

    def forget(self, key: bytes) -> None:
        self._answers.pop(key, None)

    async def on_packet(self, obj: TLObject) -> None:
        """The proxy's packets: answer parts to their request, payment pushes to the account."""
        if isinstance(obj, ProxyClientRequestPayment):
            self._update(obj.db_tokens, obj.max_tokens, obj.signed_payment)
            return
        key = getattr(obj, "request_id", None)
        entry = self._answers.get(key) if isinstance(key, bytes) else None
        if entry is None:
            log.debug("COCOON proxy %s: %s for no request we wait for", self.address, type(obj).__name__)
            return
        mapper, queue = entry
        for part in mapper.feed(obj):
            queue.put_nowait(part)
        if mapper.done:
            self.forget(key)  # type: ignore[arg-type]

    def fail_all(self, why: str) -> None:
        """End every awaited answer with a 502 (the connection is gone)."""
        for mapper, queue in self._answers.values():
            queue.put_nowait(
                AnswerError(
                    mapper.request_id,
                    502,
                    "upstream_error",
                    f"COCOON proxy {self.address} connection lost: {why}",
                )
            )
        self._answers.clear()

    async def worker_types(self) -> WorkerTypes:
        """The proxy's models and workers (``client.getWorkerTypesV2``) in our own shape."""
        answer = await self.conn.query(ClientGetWorkerTypesV2(), MODELS_TIMEOUT_S)
        if not isinstance(answer, ClientWorkerTypesV2):
            raise ConnectionClosedError(
                f"COCOON proxy {self.address} answered the model list with {type(answer).__name__}"
            )
        return worker_types(answer)

    async def keep_payment_status(self) -> None:
        """Ask for the payment status every 10-20 s until the connection closes."""
        while not self.conn.closed:
            await asyncio.sleep(random.uniform(*STATUS_EVERY_S))
            try:
                status = await self.conn.query(ClientUpdatePaymentStatus(), STATUS_TIMEOUT_S)
            except CocoonError as exc:
                log.warning("COCOON proxy %s: payment status not received: %s", self.address, exc)
                continue
            if isinstance(status, ClientPaymentStatus):
                self._update(status.db_tokens, status.max_tokens, status.signed_payment)
            await self.fund()

    async def fund(self) -> None:
        """Let the contract upkeep top our client contract up if the proxy's count leaves it low."""
        if self.upkeep is None:
            return
        try:
            await self.upkeep.keep_funded(self.authorized.client_sc_address, self.payment.max_tokens)
        except CocoonError as exc:
            log.warning("COCOON proxy %s: client contract upkeep failed: %s; retrying", self.address, exc)

    def _update(self, db_tokens: int, max_tokens: int, signed: object) -> None:
        if db_tokens < self.payment.db_tokens:
            why = f"its committed tokens went back from {self.payment.db_tokens} to {db_tokens}"
            log.error("dropping COCOON proxy %s: %s (a rolled-back database)", self.address, why)
            self.dropping = asyncio.get_running_loop().create_task(self.conn.aclose(f"dropped: {why}"))
            return
        self.payment.db_tokens, self.payment.max_tokens = db_tokens, max_tokens
        self.payment.updates += 1
        self._take_signed(signed)

    def _take_signed(self, signed: object) -> None:
        if isinstance(signed, ProxySignedPayment):
            self.payment.signed_payment = signed.data

    def status(self) -> dict[str, Any]:
        params = self.authorized.proxy
        return {
            "protocol": "cocoon",
            "connected": True,
            "auth": self.authorized.auth,
            "proto_version": self.authorized.proto_version,
            "attestation": self.conn.peer.describe() if self.conn.peer is not None else "none",
            "proxy_public_key": params.proxy_public_key.hex(),
            "proxy_contract": params.proxy_sc_address,
            "client_contract": self.authorized.client_sc_address,
            "in_flight": self.active_streams,
            "requests": self.requests,
            "tokens_committed_to_db": self.payment.db_tokens,
            "max_tokens": self.payment.max_tokens,
            "payment_updates": self.payment.updates,
        }


def worker_types(answer: ClientWorkerTypesV2) -> WorkerTypes:
    """A ``client.workerTypesV2`` as our `WorkerTypes` (so one model list merges both protocols)."""
    types = []
    for t in answer.types:
        loads = tuple(
            WorkerLoad(
                max(w.coefficient, 0), max(w.active_requests, 0), max(w.max_active_requests, 0), f"{i}"
            )
            for i, w in enumerate(t.workers)
        )
        coefficients = [w.coefficient for w in loads] or [0]
        types.append(
            WorkerType(
                t.name,
                len(loads),
                min(coefficients),
                max(coefficients),
                sum(w.active for w in loads),
                sum(w.max_active for w in loads),
                loads,
            )
        )
    return WorkerTypes(tuple(types))


class CocoonProxies:
    """Keeps `links` to every COCOON proxy address (see the module docstring)."""

    def __init__(
        self,
        addresses: list[str],
        identity: NodeIdentity,
        account: CocoonAccount,
        *,
        policy: Policy | None = None,
        long_auth: LongAuth | None = None,
        upkeep: ContractUpkeep | None = None,
        price_per_token: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``long_auth``: the on-chain half of long auth; ``upkeep``: keeps client contracts funded
        (both None without a chain)."""
        self.upkeep = upkeep
        for address in addresses:
            parse_host_port(address)  # a bad address is a configuration error, said at once
        self.addresses = list(dict.fromkeys(addresses))
        self.identity, self.account, self.policy = identity, account, policy
        self.long_auth, self.price_per_token, self.clock = long_auth, price_per_token, clock
        self.links: dict[str, CocoonLink] = {}
        self.last_error: dict[str, str] = {}
        self.connects = 0

    async def run(self) -> None:
        """Keep the connections until cancelled."""
        if not self.addresses:
            return
        if self.policy is None:
            log.warning(
                "COCOON proxies %s are not attested: no cocoon_proxy_policy is set (as in the "
                "published SDKs, anyone on the path could pose as the proxy)",
                ", ".join(self.addresses),
            )
        async with asyncio.TaskGroup() as tasks:
            for address in self.addresses:
                tasks.create_task(self._keep(address), name=f"cocoon proxy {address}")

    async def _keep(self, address: str) -> None:
        host, port = parse_host_port(address)
        backoff = BACKOFF_START_S
        while True:
            try:
                conn = await connect_cocoon(host, port, self.identity, policy=self.policy, clock=self.clock)
            except CocoonError as exc:
                backoff = await self._retry_later(address, f"cannot connect: {exc}", backoff)
                continue
            link: CocoonLink | None = None
            try:
                authorized = await authorize(conn, self.account, self.long_auth, address)
                link = CocoonLink(
                    address, conn, authorized, price_per_token=self.price_per_token, upkeep=self.upkeep
                )
                conn.set_handlers(on_packet=link.on_packet)
                self.links[address] = link
                self.connects += 1
                self.last_error.pop(address, None)
                backoff = BACKOFF_START_S
                log.info(
                    "client: connected to COCOON proxy %s (%s auth, protocol %d, handshake %.2f s)",
                    address,
                    authorized.auth,
                    authorized.proto_version,
                    conn.handshake.total_seconds if conn.handshake else 0.0,
                )
                status = asyncio.create_task(link.keep_payment_status())
                try:
                    reason = await conn.wait_closed()
                finally:
                    status.cancel()
                self.last_error[address] = reason
                log.warning("client: COCOON proxy %s ended the connection: %s", address, reason)
            except CocoonError as exc:
                backoff = await self._retry_later(address, f"handshake failed: {exc}", backoff)
            finally:
                self.links.pop(address, None)
                if link is not None:
                    link.fail_all(self.last_error.get(address, "closed"))
                with contextlib.suppress(CocoonError):
                    await conn.aclose("client reconnecting")

    async def _retry_later(self, address: str, why: str, backoff: float) -> float:
        self.last_error[address] = why
        log.warning("client: COCOON proxy %s: %s; retrying in %.1f s", address, why, backoff)
        await asyncio.sleep(backoff * (0.5 + random.random()))
        return min(backoff * 2, BACKOFF_MAX_S)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for address in self.addresses:
            link = self.links.get(address)
            out[address] = (
                link.status()
                if link
                else {"protocol": "cocoon", "connected": False, "last_error": self.last_error.get(address)}
            )
        return out
