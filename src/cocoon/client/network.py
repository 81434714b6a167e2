"""The client daemon's side of the network: attested connections to proxies, requests through them.

One connection per proxy is kept open and re-opened with capped backoff (`cocoon.net.proxy_links`);
the proxy set may change at run time. A request goes to the connected proxy with the fewest requests
in flight. Its answer is read within the caller's timeout; a connection that dies mid-answer, or a
timeout that passes, becomes a final `AnswerError`, so the HTTP layer always ends what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from cocoon.api.validation import ValidatedRequest, generates_tokens
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import Policy
from cocoon.client.model_list import model_list
from cocoon.client.payments import ClientLink, ClientPayments
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import CocoonError, ConnectionClosedError, RequestCancelledError, RequestError
from cocoon.net.proxy_links import ProxyLinks
from cocoon.net.rpc import Handlers, RpcAnswerStream, RpcConnection
from cocoon.node.identity import refresh_certificates
from cocoon.payments.pricing import completion_budget
from cocoon.wire.control import GetPaymentStatus, GetWorkerTypes, PaymentStatus, WorkerTypes
from cocoon.wire.messages import AnswerEnd, AnswerError, AnswerPart, Role, RunQuery
from cocoon.wire.session import EndpointConfig
from cocoon.wire.timeouts import inner_timeout_ms

log = logging.getLogger(__name__)


class NetworkAnswer:
    """One answer read from a proxy, ended by an `AnswerEnd` or an `AnswerError` whatever happens."""

    def __init__(self, stream: RpcAnswerStream, timeout_s: float, proxy: str) -> None:
        self._stream = stream
        self._timeout_s = timeout_s
        self._proxy = proxy

    async def __aiter__(self) -> AsyncIterator[AnswerPart]:
        request_id = self._stream.request_id
        try:
            async with asyncio.timeout(self._timeout_s):
                async for part in self._stream:
                    yield part
                    if isinstance(part, AnswerEnd | AnswerError):
                        return
        except TimeoutError:
            self._stream.cancel("deadline passed")
            yield AnswerError(request_id, 504, "timeout", f"no complete answer within {self._timeout_s:g} s")
        except (ConnectionClosedError, RequestCancelledError) as exc:
            yield AnswerError(
                request_id, 502, "upstream_error", f"proxy {self._proxy} connection lost: {exc}"
            )

    async def cancel(self, reason: str) -> None:
        self._stream.cancel(reason)


class ProxyPool:
    """Connections to the configured proxies; the real `cocoon.client.backend.InferenceBackend`."""

    def __init__(
        self,
        proxies: list[str],
        identity: NodeIdentity,
        policy: Policy,
        payments: ClientPayments | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.payments = payments  # client contracts on chain; None: the proxy's off-chain credit
        self.proxies = proxies
        self.identity = identity
        self.policy = policy
        self.client_id = identity.public_key.hex()
        self.links = ProxyLinks(
            identity,
            policy,
            EndpointConfig(Role.CLIENT, self.client_id[:16], accept_roles=frozenset({Role.PROXY})),
            self._session,
            # A proxy whose payment numbers went backwards or did not verify is never used again.
            give_up=lambda address: payments is not None and address in payments.dropped,
            role="client",
        )

    @property
    def connections(self) -> dict[str, RpcConnection]:
        """Live proxy connections by address."""
        return self.links.connections

    @property
    def last_error(self) -> dict[str, str]:
        return self.links.last_error

    def _session(self, address: str) -> _ClientProxySession:
        return _ClientProxySession(ClientLink(self.payments, address) if self.payments else None)

    async def run_forever(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.links.run(self.proxies))
            tasks.create_task(refresh_certificates(self.identity, clock=self.clock))
            if self.payments is not None:
                tasks.create_task(self.payments.run())

    def _pick(self) -> tuple[str, RpcConnection]:
        if not self.connections:
            detail = "; ".join(f"{p}: {e}" for p, e in self.last_error.items()) or "still connecting"
            raise RequestError(
                f"the client is not connected to any proxy ({detail}); check that a proxy runs at "
                f"{', '.join(self.links.addresses or self.proxies)}",
                status=502,
                error_type="upstream_error",
                code="upstream_error",
            )
        return min(self.connections.items(), key=lambda item: item[1].active_streams)

    async def run(self, request: ValidatedRequest, request_id: int) -> NetworkAnswer:
        address, conn = self._pick()
        # Every choice may generate max_tokens: the proxy reserves for all of them. An embeddings
        # request generates nothing: no completion budget, the proxy reserves for its size alone.
        budget = (
            completion_budget(request.max_tokens, request.choices) if generates_tokens(request.path) else 0
        )
        query = RunQuery(
            request_id=request_id,
            model=request.model,
            body=request.engine_body_bytes(),
            max_coefficient=request.max_coefficient,
            max_tokens=budget,
            timeout_ms=inner_timeout_ms(request.timeout_s * 1000),
            path=request.path,
            debug=request.enable_debug,
            client_request_id=f"{request_id:016x}",  # the X-Cocoon-Request-Id the receipt must name
        )
        try:
            stream = await conn.run_query(query)
        except ConnectionClosedError as exc:
            raise RequestError(
                f"the connection to proxy {address} closed: {exc}", status=502, error_type="upstream_error"
            ) from exc
        return NetworkAnswer(stream, request.timeout_s, address)

    async def models(self) -> list[dict[str, Any]]:
        """The OpenAI model list of every connected proxy, merged per model (see `client.model_list`)."""
        answers: list[tuple[str, WorkerTypes]] = []
        for address, conn in list(self.connections.items()):
            try:
                answer = await conn.query(GetWorkerTypes(), timeout=10)
            except CocoonError as exc:
                log.warning("proxy %s did not list its models: %s", address, exc)
                continue
            if isinstance(answer, WorkerTypes):
                answers.append((address, answer))
        return model_list(answers)

    async def status(self) -> dict[str, Any]:
        proxies: dict[str, Any] = {}
        for address in self.links.addresses or self.proxies:
            conn = self.connections.get(address)
            entry: dict[str, Any] = {
                "connected": conn is not None,
                "last_error": self.last_error.get(address),
            }
            if conn is not None:
                entry["rtt_s"] = conn.rtt
                entry["in_flight"] = conn.active_streams
                with contextlib.suppress(CocoonError):
                    status = await conn.query(GetPaymentStatus(), timeout=5)
                    if isinstance(status, PaymentStatus):
                        entry["balance_nano"] = status.balance_nano
                        entry["tokens_charged"] = status.committed_to_db
            proxies[address] = entry
        payments = self.payments.stats() if self.payments else None
        return {"client_id": self.client_id, "proxies": proxies, "payments": payments}


class _ClientProxySession:
    """The client's side of one connection attempt to a proxy: receive its payment updates, register
    our client contract."""

    def __init__(self, link: ClientLink | None) -> None:
        self.link = link
        self.handlers = Handlers(on_payment=link.on_payment if link is not None else None)

    async def opened(self, conn: RpcConnection, peer: AttestedPeer) -> None:
        if self.link is not None:
            await self.link.join(conn, peer.public_key)
