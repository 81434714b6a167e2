"""Bodies of control queries (`Query.body`) and their answers (`QueryAnswer.body`).

A control exchange is one request body answered by one answer body (or a `QueryError`). Each body is
a frozen, array-like msgspec Struct with an integer tag unique within `ControlBody`.

Adding a control message: define its Struct below with the next free tag and add it to `ControlBody`
(one line). Tags are part of the wire format: never reuse or renumber one. New fields go at the end
with a default, so older peers (which ignore extra trailing fields) keep working.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
"""An integer that must not be negative (tokens, nanoTON, counts); checked when decoding."""

ContextLength = Annotated[int, msgspec.Meta(ge=0, le=1 << 30)]
"""A model's context length in tokens (0: unknown); bounded so a peer cannot claim an absurd one."""

Endpoints = Annotated[tuple[Annotated[str, msgspec.Meta(max_length=64)], ...], msgspec.Meta(max_length=16)]
"""OpenAI endpoint paths a worker serves; bounded in count and length (names are checked on entry)."""


Certificate = Annotated[bytes, msgspec.Meta(max_length=64 * 1024)]
"""An RA-TLS certificate's DER (quote included); bounded."""


class _Body(msgspec.Struct, frozen=True, array_like=True):
    """Base of every control body (no fields of its own)."""


class GetWorkerTypes(_Body, tag=100, frozen=True):
    """Ask a proxy which models its workers serve, at what prices and load."""


class WorkerLoad(msgspec.Struct, frozen=True, array_like=True):
    """One worker behind a proxy: its price coefficient, how busy it is, what it serves and its price."""

    coefficient: NonNegative
    active: NonNegative
    max_active: NonNegative
    worker_id: str = ""
    context_length: ContextLength = 0
    """0: the worker's engine did not state one."""
    endpoints: Endpoints = ()
    prompt_nano_per_mtok: NonNegative = 0
    """nanoTON a client pays per million prompt tokens at this worker's coefficient."""
    completion_nano_per_mtok: NonNegative = 0
    """nanoTON a client pays per million completion tokens at this worker's coefficient."""


class WorkerType(msgspec.Struct, frozen=True, array_like=True):
    """One model served behind a proxy: how many workers, their price coefficients and load."""

    model: str
    workers: NonNegative
    coefficient_min: NonNegative
    coefficient_max: NonNegative
    active_requests: NonNegative = 0
    max_active_requests: NonNegative = 0
    worker_loads: tuple[WorkerLoad, ...] = ()
    context_length: ContextLength = 0
    """The shortest context length the model's workers state (0: none states one)."""
    endpoints: Endpoints = ()
    """The endpoints at least one of the model's workers serves (each worker's are in its load)."""


class WorkerTypes(_Body, tag=101, frozen=True):
    """Answer to `GetWorkerTypes`."""

    types: tuple[WorkerType, ...] = ()


class GetPaymentStatus(_Body, tag=102, frozen=True):
    """Ask the counterpart for the current state of our payment channel."""


class PaymentStatus(_Body, tag=103, frozen=True):
    """Answer to `GetPaymentStatus`: the channel's three counters (tokens) and the latest signature."""

    tokens_max: NonNegative
    committed_to_db: NonNegative
    committed_to_chain: NonNegative
    signed_payment: bytes | None = None
    balance_nano: int = 0
    """What the counterpart may still spend, in nanoTON (negative if overdrawn)."""


class RegisterClient(_Body, tag=104, frozen=True):
    """A client tells a proxy which client contract pays for it: its owner address, and the secret
    whose sha256 the contract holds (``secret_hash``), so nobody can spend someone else's contract."""

    owner: str
    secret: bytes


class ClientRegistered(_Body, tag=105, frozen=True):
    """Answer to `RegisterClient`: the proxy contract, the client contract the proxy computed for this
    owner, and what the proxy knows of it (``deployed`` false: deploy and top it up first)."""

    proxy_contract: str
    client_contract: str
    deployed: bool
    balance_nano: int = 0
    stake_nano: int = 0
    tokens_used: NonNegative = 0


class GetProxyInfo(_Body, tag=106, frozen=True):
    """Ask a proxy where it settles: its proxy contract (its key is the one its certificate attests)."""


class ProxyInfo(_Body, tag=107, frozen=True):
    """Answer to `GetProxyInfo`; empty ``proxy_contract``: the proxy runs without a chain."""

    proxy_contract: str
    params_version: NonNegative = 0


class E2ECandidates(_Body, tag=108, frozen=True):
    """Ask a proxy for up to ``want`` workers a request could be end-to-end encrypted to (spec/e2e.md):
    serving ``model`` at ``endpoint`` at most at ``max_coefficient``, with an end-to-end key. A
    certificate whose SHA-256 is in ``known`` is not re-sent."""

    model: str
    max_coefficient: NonNegative
    want: Annotated[int, msgspec.Meta(ge=1, le=32)]
    endpoint: str = "/v1/chat/completions"
    known: Annotated[tuple[bytes, ...], msgspec.Meta(max_length=64)] = ()


class E2ECandidate(msgspec.Struct, frozen=True, array_like=True):
    """One eligible worker, in the proxy's order of preference."""

    worker_id: str
    certificate_sha256: bytes
    certificate: Certificate = b""
    """Empty when the client said it has it (``known``)."""
    coefficient: NonNegative = 0


class E2ECandidateList(_Body, tag=109, frozen=True):
    """Answer to `E2ECandidates` (empty: no worker can take an end-to-end encrypted request now)."""

    candidates: Annotated[tuple[E2ECandidate, ...], msgspec.Meta(max_length=32)] = ()
    refusal_status: Annotated[int, msgspec.Meta(ge=0, le=599)] = 0
    """With no candidate because no worker can take such a request at all (unknown model, endpoint not
    served, price too low): the HTTP status a plaintext request would get; 0 otherwise."""
    refusal_code: str = ""
    refusal: str = ""
    """The message a plaintext request would get."""


ControlBody = (
    GetWorkerTypes
    | WorkerTypes
    | GetPaymentStatus
    | PaymentStatus
    | RegisterClient
    | ClientRegistered
    | GetProxyInfo
    | ProxyInfo
    | E2ECandidates
    | E2ECandidateList
)
"""Every control request and answer body; extend by adding one Struct here."""
