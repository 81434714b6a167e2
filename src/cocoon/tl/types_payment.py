"""Payments on the client hop: the proxy's signed payments, payment status and refund.

`ClientUpdatePaymentStatus` and `ClientRequestRefund` are functions (sent in a ``tcp.query``); the
other classes come back in ``tcp.queryAnswer`` or inside other messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from cocoon.tl.base import TLObject


@dataclass(frozen=True, slots=True)
class ProxySignedPayment(TLObject):
    """A payment the proxy signed for the client (``data`` is the signed message to post on chain).

    TL: ``proxy.signedPayment data:bytes = proxy.SignedPayment``
    """

    TL_NAME: ClassVar[str] = "proxy.signedPayment"
    TL_ID: ClassVar[int] = 0x02998182

    data: bytes


@dataclass(frozen=True, slots=True)
class ProxySignedPaymentEmpty(TLObject):
    """No signed payment (nothing is owed yet).

    TL: ``proxy.signedPaymentEmpty = proxy.SignedPayment``
    """

    TL_NAME: ClassVar[str] = "proxy.signedPaymentEmpty"
    TL_ID: ClassVar[int] = 0xB347CE64


AnyProxySignedPayment: TypeAlias = ProxySignedPayment | ProxySignedPaymentEmpty
"""``proxy.SignedPayment``: a signed payment or none."""


@dataclass(frozen=True, slots=True)
class ClientUpdatePaymentStatus(TLObject):
    """Query: the client's current payment state (asked every 10-20 s).

    TL: ``client.updatePaymentStatus = client.PaymentStatus``
    """

    TL_NAME: ClassVar[str] = "client.updatePaymentStatus"
    TL_ID: ClassVar[int] = 0x9ED1C697


@dataclass(frozen=True, slots=True)
class ClientPaymentStatus(TLObject):
    """Answer to `ClientUpdatePaymentStatus`.

    TL: ``client.paymentStatus signed_payment:proxy.SignedPayment db_tokens:long max_tokens:long =
    client.PaymentStatus``
    """

    TL_NAME: ClassVar[str] = "client.paymentStatus"
    TL_ID: ClassVar[int] = 0xAA8A0ECC

    signed_payment: AnyProxySignedPayment
    db_tokens: int
    max_tokens: int


@dataclass(frozen=True, slots=True)
class ClientRequestRefund(TLObject):
    """Query: ask the proxy for a refund message (close the client contract).

    TL: ``client.requestRefund = client.Refund``
    """

    TL_NAME: ClassVar[str] = "client.requestRefund"
    TL_ID: ClassVar[int] = 0x238D863D


@dataclass(frozen=True, slots=True)
class ClientRefund(TLObject):
    """The refund message to post on chain.

    TL: ``client.refund data:bytes = client.Refund``
    """

    TL_NAME: ClassVar[str] = "client.refund"
    TL_ID: ClassVar[int] = 0x83AABEAD

    data: bytes


@dataclass(frozen=True, slots=True)
class ClientRefundRejected(TLObject):
    """Refund refused while queries are running.

    TL: ``client.refundRejected active_queries:long = client.Refund``
    """

    TL_NAME: ClassVar[str] = "client.refundRejected"
    TL_ID: ClassVar[int] = 0xCF9D9957

    active_queries: int


AnyClientRefund: TypeAlias = ClientRefund | ClientRefundRejected
"""``client.Refund``: the answer to `ClientRequestRefund`."""

PAYMENT_TYPES: tuple[type[TLObject], ...] = (
    ProxySignedPayment,
    ProxySignedPaymentEmpty,
    ClientUpdatePaymentStatus,
    ClientPaymentStatus,
    ClientRequestRefund,
    ClientRefund,
    ClientRefundRejected,
)
