"""Our proxy's facts as COCOON's TL answers: payment status and pushes, the model list (pure).

``signed_payment`` is the proxy's signed charge of the client contract for the channel's
chain-committed total (the BoC our settlement signs), or ``proxy.signedPaymentEmpty`` while nothing
is committed on chain; ``db_tokens``/``max_tokens`` are the channel's committed-to-database and
running totals (`cocoon.wire.control.PaymentStatus`).
"""

from __future__ import annotations

from collections.abc import Iterable

from cocoon.tl.types import (
    AnyProxySignedPayment,
    ClientPaymentStatus,
    ClientWorkerInstanceV2,
    ClientWorkerType,
    ClientWorkerTypes,
    ClientWorkerTypesV2,
    ClientWorkerTypeV2,
    ProxyClientRequestPayment,
    ProxySignedPayment,
    ProxySignedPaymentEmpty,
)
from cocoon.wire.control import PaymentStatus, WorkerType

NO_REQUEST = bytes(32)
"""The request id of a payment push that follows no request (a settlement update)."""


def signed_payment_of(boc: bytes | None) -> AnyProxySignedPayment:
    """``proxy.signedPayment{BoC}``, or ``proxy.signedPaymentEmpty`` while nothing is signed."""
    return ProxySignedPayment(data=boc) if boc else ProxySignedPaymentEmpty()


def payment_status(status: PaymentStatus) -> ClientPaymentStatus:
    """The answer to ``client.updatePaymentStatus``."""
    return ClientPaymentStatus(
        signed_payment_of(status.signed_payment), status.committed_to_db, status.tokens_max
    )


def request_payment(
    request_id: bytes, signed_payment: bytes | None, db_tokens: int, max_tokens: int, request_tokens: int
) -> ProxyClientRequestPayment:
    """The ``proxy.clientRequestPayment`` push after a request (``request_tokens`` charged for it), or
    after a settlement update (``NO_REQUEST``, 0 tokens)."""
    return ProxyClientRequestPayment(
        request_id=request_id,
        signed_payment=signed_payment_of(signed_payment),
        db_tokens=db_tokens,
        max_tokens=max_tokens,
        request_tokens=request_tokens,
    )


def worker_types_v2(types: Iterable[WorkerType]) -> ClientWorkerTypesV2:
    """``client.workerTypesV2``: per model, each worker's coefficient and load."""
    return ClientWorkerTypesV2(
        tuple(
            ClientWorkerTypeV2(
                t.model,
                tuple(ClientWorkerInstanceV2(w.coefficient, w.active, w.max_active) for w in t.worker_loads),
            )
            for t in types
        )
    )


def worker_types(types: Iterable[WorkerType]) -> ClientWorkerTypes:
    """The legacy ``client.workerTypes``: per model, worker count and coefficients (min, median, max)."""
    answer = []
    for t in types:
        coefficients = sorted(w.coefficient for w in t.worker_loads) or [0]
        median = coefficients[len(coefficients) // 2]
        answer.append(ClientWorkerType(t.model, t.workers, t.coefficient_min, median, t.coefficient_max))
    return ClientWorkerTypes(tuple(answer))
