"""Reservations and the recorded cost of requests against the ledger (spec/economics.md).

Before dispatch the proxy reserves the worst case in adjusted tokens (the completion budget of every
choice plus the request's size, at its price ceiling; an embeddings request has no completion part); a
request whose reservation the client cannot cover is refused (HTTP 402). At the end the actual usage is
metered with the worker's coefficient, capped at the reservation (a request is never charged more than
it reserved), recorded in the ledger in one transaction, and the reservation is released. (Settling
those charges on chain is another step, done later by the proxy's settlement.) Reservations live in
memory: after a crash no request is in flight, so there is nothing to keep.

Whose money: with a chain, only a client contract bound to the client (`ChainCredit.owner_of`) pays;
a client without one is refused (402, `NO_CONTRACT`) before any worker is reached, even if the ledger
holds off-chain credit for it (say from an earlier chain-less run). Off-chain credit in the ledger is
for chain-less test networks only.

Group commit: the router records with ``defer=True`` and awaits `ClientBook.durable` before it tells
the client what the request cost; every request recorded in the same event-loop iteration shares one
SQLite commit. A deferred request paid from a client contract keeps its reservation until the commit,
when its channels count it (`ChainCredit.on_recorded`), so the credit it holds is never counted twice
or not at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from cocoon.errors import InsufficientFundsError, PaymentError
from cocoon.payments.params import Nano, NetworkParams, Tokens
from cocoon.payments.pricing import adjusted_tokens, reservation_tokens
from cocoon.proxy.ledger import LEGACY_CONTRACT, Ledger, RequestCharge
from cocoon.usage import Usage

NO_CONTRACT = (
    "this proxy is paid on chain and this client has no client contract bound to it: open (deploy) and "
    "top up a client contract with this proxy, then register it (a client daemon with chain_url and "
    "root_address does both when it connects; `cocoon client topup` adds funds; a COCOON client "
    "authorizes with its contract's secret or register note)"
)
"""Why a client is refused (402) by a proxy on chain before it has a client contract."""


@dataclass(frozen=True, slots=True)
class Reservation:
    request_id: str
    client_id: str
    tokens: Tokens
    chain: ChainCredit | None = None
    """The proxy contract the request was reserved on: it is charged there, at its ``params``, even if
    the proxy moved to a new contract while it ran (a params change)."""
    params: NetworkParams | None = None


@dataclass(slots=True)
class RequestCost:
    """What one request cost: adjusted tokens and nanoTON, split as the API reports them.

    Not frozen (nobody changes it): built once per request, and a frozen init costs twice as much."""

    adjusted_tokens: Tokens
    cost_nano: Nano
    prompt_cost_nano: Nano
    completion_cost_nano: Nano
    worker_earned_nano: Nano
    capped: bool


class ChainCredit(Protocol):
    """Credit from the chain for clients that pay on it (:class:`cocoon.proxy.settlement.ProxySettlement`)."""

    def owner_of(self, client_id: str) -> str | None:
        """The owner address of the client contract paying for ``client_id`` (None: off-chain credit)."""
        ...

    def available(self, owner: str, reserved: Tokens) -> int:
        """Adjusted tokens the client contract of ``owner`` may still reserve, net of ``reserved``."""
        ...

    def on_recorded(self, client_owner: str, worker_owner: str, tokens: Tokens) -> None:
        """A request of ``tokens`` was durably recorded in the ledger's channels."""
        ...

    @property
    def scope(self) -> str:
        """The proxy contract whose channels count this credit's requests (``RequestCharge.contract``)."""
        ...


class ClientBook:
    """Per-client available credit in adjusted tokens: from the client's contract on chain when it
    registered one (``chain``), else ledger remaining / price - reserved (off-chain credit).

    After a params change the proxy points ``chain`` and ``params`` at its new contract (:meth:`move`);
    requests reserved before are still charged on the old one."""

    def __init__(self, ledger: Ledger, params: NetworkParams, chain: ChainCredit | None = None) -> None:
        self.ledger = ledger
        self.params = params
        self.chain = chain
        self._reservations: dict[str, Reservation] = {}
        self._reserved_by_client: dict[str, Tokens] = {}
        self._commit: list[asyncio.Future[None]] | None = None
        """Who waits for the commit the requests recorded in this loop iteration share (see `durable`)."""

    def move(self, chain: ChainCredit, params: NetworkParams) -> None:
        """New requests are reserved on ``chain`` at ``params`` (the proxy's new contract)."""
        self.chain, self.params = chain, params

    def running(self, chain: ChainCredit) -> int:
        """Requests reserved on ``chain`` whose cost is not counted in its channels yet."""
        return sum(r.chain is chain for r in self._reservations.values())

    def reserved_tokens(self, client_id: str) -> Tokens:
        """Adjusted tokens held by the client's requests in flight."""
        return self._reserved_by_client.get(client_id, Tokens(0))

    def available_tokens(self, client_id: str) -> Tokens:
        """Adjusted tokens the client may still reserve (negative: over-reserved). On a chain a client
        with no client contract bound has none, whatever the ledger holds: the proxy never pays for it."""
        if self.chain is not None:
            owner = self.chain.owner_of(client_id)
            if owner is None:
                return Tokens(-self.reserved_tokens(client_id))
            return Tokens(self.chain.available(owner, self.reserved_tokens(client_id)))
        remaining = self.ledger.client(client_id).remaining_nano
        return Tokens(remaining // self.params.price_per_token - self.reserved_tokens(client_id))

    def reserve(
        self,
        request_id: str,
        client_id: str,
        max_tokens: int,
        request_bytes: int,
        max_coefficient: int,
        *,
        generates: bool = True,
    ) -> Reservation:
        """Reserve the worst case of one request or raise `InsufficientFundsError` saying how much.

        ``generates=False`` (embeddings): no completion part, ``max_tokens`` must be 0."""
        if request_id in self._reservations:
            raise PaymentError(f"request {request_id} already holds a reservation")
        chain = self.chain
        owner = None if chain is None else chain.owner_of(client_id)  # looked up once per request
        if chain is not None and owner is None:
            raise InsufficientFundsError(NO_CONTRACT)
        tokens = reservation_tokens(max_tokens, request_bytes, max_coefficient, generates=generates)
        if chain is not None and owner is not None:  # as available_tokens, without a second lookup
            available = chain.available(owner, self.reserved_tokens(client_id))
        else:
            available = self.available_tokens(client_id)
        if tokens > available:
            price = self.params.price_per_token
            raise InsufficientFundsError(
                f"this request needs a reservation of {tokens} tokens ({tokens * price} nanoTON) but only "
                f"{max(available, 0)} tokens ({max(available, 0) * price} nanoTON) are available; top up "
                "the client's balance or lower max_tokens / n / max_coefficient"
            )
        reservation = Reservation(request_id, client_id, tokens, self.chain, self.params)
        self._reservations[request_id] = reservation
        self._reserved_by_client[client_id] = Tokens(self.reserved_tokens(client_id) + tokens)
        return reservation

    def release(self, request_id: str) -> None:
        """Drop a reservation (request failed before any usage, or once its cost is recorded)."""
        reservation = self._reservations.pop(request_id, None)
        if reservation is None:
            return
        left = Tokens(self._reserved_by_client[reservation.client_id] - reservation.tokens)
        if left:
            self._reserved_by_client[reservation.client_id] = left
        else:
            del self._reserved_by_client[reservation.client_id]

    def record(
        self,
        request_id: str,
        usage: Usage,
        coefficient: int,
        worker_id: str,
        worker_owner: str,
        now: float,
        *,
        defer: bool = False,
    ) -> RequestCost:
        """Meter, cap at the reservation, record in the ledger and release; idempotent per request id.

        ``now`` is the wall-clock time stamped on the ledger row. ``defer``: the row joins the ledger's
        open batch; await `durable` before telling anyone the cost.
        """
        reservation = self._reservations.get(request_id)
        if reservation is None:
            raise PaymentError(f"request {request_id} has no reservation to charge against")
        params = reservation.params or self.params
        chain = reservation.chain
        adjusted = adjusted_tokens(usage, coefficient, params)
        total = min(adjusted.total, reservation.tokens)
        prompt_tokens = min(adjusted.prompt + adjusted.cached, total)
        price = params.price_per_token
        cost = RequestCost(
            adjusted_tokens=total,
            cost_nano=Nano(total * price),
            prompt_cost_nano=Nano(prompt_tokens * price),
            completion_cost_nano=Nano((total - prompt_tokens) * price),
            worker_earned_nano=Nano(total * params.worker_fee_per_token),
            capped=total < adjusted.total,
        )
        charge = RequestCharge(
            request_id=request_id,
            client_id=reservation.client_id,
            worker_id=worker_id,
            worker_owner=worker_owner,
            adjusted_tokens=total,
            client_cost_nano=cost.cost_nano,
            worker_earned_nano=cost.worker_earned_nano,
            client_owner=(chain.owner_of(reservation.client_id) or "") if chain else "",
            contract=chain.scope if chain else LEGACY_CONTRACT,
        )
        on_chain = bool(defer and chain and charge.client_owner)

        def committed() -> None:
            if chain:
                chain.on_recorded(charge.client_owner, worker_owner, total)
            if on_chain:
                self.release(request_id)  # now counted by the channel instead

        self.ledger.record(charge, finished_at=now, defer=defer, on_commit=committed)
        if not on_chain:
            self.release(request_id)  # off-chain credit is read from the ledger, batch included
        return cost

    async def durable(self) -> None:
        """Wait until every request recorded so far is committed (shared by all recorded in this loop
        iteration); raises what the commit raised (then nothing of theirs was stored)."""
        if not self.ledger.pending:
            return
        loop = asyncio.get_running_loop()
        # One future per waiter, resolved by the shared commit: a waiter cancelled alone cancels only
        # its own (what asyncio.shield around one shared future did, at twice the cost per request).
        waiter: asyncio.Future[None] = loop.create_future()
        if self._commit is None:
            self._commit = []
            loop.call_soon(self._run_commit)
        self._commit.append(waiter)
        await waiter

    def _run_commit(self) -> None:
        waiters, self._commit = self._commit, None
        assert waiters is not None
        try:
            self.ledger.commit()
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
        else:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
