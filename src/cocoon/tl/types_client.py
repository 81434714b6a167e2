"""Client <-> proxy control messages: connecting, authorising, payment status, worker types, refund.

Functions (`ClientConnectToProxy`, `ClientAuthorizeWithProxyShort`, ...) travel boxed in a
``tcp.query``; the constructors of their result type come back in ``tcp.queryAnswer``. Flags are
computed from which optional fields are set (see `cocoon.tl.base.TLObject`).
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
class ClientParams(TLObject):
    """What the client says about itself when connecting (flag bit 1: its protocol range).

    TL: ``client.params flags:# client_owner_address:string is_test:flags.0?Bool min_proto_version:flags.1?int
    max_proto_version:flags.1?int = client.Params``
    """

    TL_NAME: ClassVar[str] = "client.params"
    TL_ID: ClassVar[int] = 0x40FDCA64

    client_owner_address: str
    is_test: bool | None = None
    min_proto_version: int | None = None
    max_proto_version: int | None = None


@dataclass(frozen=True, slots=True)
class ProxyParams(TLObject):
    """What the proxy says about itself in `ClientConnectedToProxy`.

    TL: ``proxy.params flags:# proxy_public_key:int256 proxy_owner_address:string proxy_sc_address:string
    is_test:flags.0?Bool proto_version:flags.1?int = proxy.Params``
    """

    TL_NAME: ClassVar[str] = "proxy.params"
    TL_ID: ClassVar[int] = 0xD5C5609F

    proxy_public_key: bytes
    proxy_owner_address: str
    proxy_sc_address: str
    is_test: bool | None = None
    proto_version: int | None = None


@dataclass(frozen=True, slots=True)
class ClientProxyConnectionAuthShort(TLObject):
    """The proxy knows this client: prove it with the secret whose sha256 is ``secret_hash``.

    TL: ``client.proxyConnectionAuthShort secret_hash:int256 nonce:long = client.ProxyConnectionAuth``
    """

    TL_NAME: ClassVar[str] = "client.proxyConnectionAuthShort"
    TL_ID: ClassVar[int] = 0xD6FFC5AF

    secret_hash: bytes
    nonce: int


@dataclass(frozen=True, slots=True)
class ClientProxyConnectionAuthLong(TLObject):
    """The proxy does not know this client: register ``nonce`` on chain, then authorise long.

    TL: ``client.proxyConnectionAuthLong nonce:long = client.ProxyConnectionAuth``
    """

    TL_NAME: ClassVar[str] = "client.proxyConnectionAuthLong"
    TL_ID: ClassVar[int] = 0x417BF016

    nonce: int


AnyClientProxyConnectionAuth: TypeAlias = ClientProxyConnectionAuthShort | ClientProxyConnectionAuthLong
"""``client.ProxyConnectionAuth``: which authorisation the proxy asks for."""


@dataclass(frozen=True, slots=True)
class ClientConnectToProxy(TLObject):
    """Query: the first request of a client connection.

    TL: ``client.connectToProxy params:client.params min_config_version:int = client.ConnectedToProxy``
    """

    TL_NAME: ClassVar[str] = "client.connectToProxy"
    TL_ID: ClassVar[int] = 0xFF5FA0F4

    params: ClientParams
    min_config_version: int


@dataclass(frozen=True, slots=True)
class ClientConnectedToProxy(TLObject):
    """Answer to `ClientConnectToProxy`: the proxy's parameters and the authorisation it asks for.

    TL: ``client.connectedToProxy params:proxy.params client_sc_address:string auth:client.ProxyConnectionAuth
    signed_payment:proxy.SignedPayment = client.ConnectedToProxy``
    """

    TL_NAME: ClassVar[str] = "client.connectedToProxy"
    TL_ID: ClassVar[int] = 0x95317AD1

    params: ProxyParams
    client_sc_address: str
    auth: AnyClientProxyConnectionAuth
    signed_payment: AnyProxySignedPayment


@dataclass(frozen=True, slots=True)
class ClientAuthorizeWithProxyShort(TLObject):
    """Query: authorise with the secret (``data``) whose hash the proxy holds.

    TL: ``client.authorizeWithProxyShort data:bytes = client.AuthorizationWithProxy``
    """

    TL_NAME: ClassVar[str] = "client.authorizeWithProxyShort"
    TL_ID: ClassVar[int] = 0x6C276723

    data: bytes


@dataclass(frozen=True, slots=True)
class ClientAuthorizeWithProxyLong(TLObject):
    """Query: authorise after registering the nonce on chain.

    TL: ``client.authorizeWithProxyLong = client.AuthorizationWithProxy``
    """

    TL_NAME: ClassVar[str] = "client.authorizeWithProxyLong"
    TL_ID: ClassVar[int] = 0xD3474303


@dataclass(frozen=True, slots=True)
class ClientAuthorizationWithProxySuccess(TLObject):
    """The client is authorised; its payment state follows.

    TL: ``client.authorizationWithProxySuccess signed_payment:proxy.SignedPayment tokens_committed_to_db:long
    max_tokens:long = client.AuthorizationWithProxy``
    """

    TL_NAME: ClassVar[str] = "client.authorizationWithProxySuccess"
    TL_ID: ClassVar[int] = 0x75D5AC34

    signed_payment: AnyProxySignedPayment
    tokens_committed_to_db: int
    max_tokens: int


@dataclass(frozen=True, slots=True)
class ClientAuthorizationWithProxyFailed(TLObject):
    """Authorisation refused, with the proxy's error code and reason.

    TL: ``client.authorizationWithProxyFailed error_code:int error:string = client.AuthorizationWithProxy``
    """

    TL_NAME: ClassVar[str] = "client.authorizationWithProxyFailed"
    TL_ID: ClassVar[int] = 0x60551C96

    error_code: int
    error: str


AnyClientAuthorizationWithProxy: TypeAlias = (
    ClientAuthorizationWithProxySuccess | ClientAuthorizationWithProxyFailed
)
"""``client.AuthorizationWithProxy``: the answer to either authorisation query."""


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
class ClientGetWorkerTypesV2(TLObject):
    """Query: the models the proxy serves, worker by worker.

    TL: ``client.getWorkerTypesV2 = client.WorkerTypesV2``
    """

    TL_NAME: ClassVar[str] = "client.getWorkerTypesV2"
    TL_ID: ClassVar[int] = 0xB2133D72


@dataclass(frozen=True, slots=True)
class ClientWorkerInstanceV2(TLObject):
    """One worker of a model: its price coefficient and load.

    TL: ``client.workerInstanceV2 flags:# coefficient:int active_requests:int max_active_requests:int =
    client.WorkerInstanceV2``
    """

    TL_NAME: ClassVar[str] = "client.workerInstanceV2"
    TL_ID: ClassVar[int] = 0x3EA93D00

    coefficient: int
    active_requests: int
    max_active_requests: int


@dataclass(frozen=True, slots=True)
class ClientWorkerTypeV2(TLObject):
    """One model and its workers.

    TL: ``client.workerTypeV2 name:string workers:vector client.workerInstanceV2 = client.WorkerTypeV2``
    """

    TL_NAME: ClassVar[str] = "client.workerTypeV2"
    TL_ID: ClassVar[int] = 0xB27D8197

    name: str
    workers: tuple[ClientWorkerInstanceV2, ...]


@dataclass(frozen=True, slots=True)
class ClientWorkerTypesV2(TLObject):
    """Answer to `ClientGetWorkerTypesV2`.

    TL: ``client.workerTypesV2 types:vector client.workerTypeV2 = client.WorkerTypesV2``
    """

    TL_NAME: ClassVar[str] = "client.workerTypesV2"
    TL_ID: ClassVar[int] = 0x0CF0DC67

    types: tuple[ClientWorkerTypeV2, ...]


@dataclass(frozen=True, slots=True)
class ClientGetWorkerTypes(TLObject):
    """Query (legacy): the models the proxy serves, summarised.

    TL: ``client.getWorkerTypes = client.WorkerTypes``
    """

    TL_NAME: ClassVar[str] = "client.getWorkerTypes"
    TL_ID: ClassVar[int] = 0x7F062BDB


@dataclass(frozen=True, slots=True)
class ClientWorkerType(TLObject):
    """One model, summarised (legacy).

    TL: ``client.workerType name:string active_workers:int coefficient_min:int coefficient_bucket50:int
    coefficient_max:int = client.WorkerType``
    """

    TL_NAME: ClassVar[str] = "client.workerType"
    TL_ID: ClassVar[int] = 0x8210E21C

    name: str
    active_workers: int
    coefficient_min: int
    coefficient_bucket50: int
    coefficient_max: int


@dataclass(frozen=True, slots=True)
class ClientWorkerTypes(TLObject):
    """Answer to `ClientGetWorkerTypes` (legacy).

    TL: ``client.workerTypes types:vector client.workerType = client.WorkerTypes``
    """

    TL_NAME: ClassVar[str] = "client.workerTypes"
    TL_ID: ClassVar[int] = 0xF64E0E01

    types: tuple[ClientWorkerType, ...]


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

CLIENT_TYPES: tuple[type[TLObject], ...] = (
    ProxySignedPayment,
    ProxySignedPaymentEmpty,
    ClientParams,
    ProxyParams,
    ClientProxyConnectionAuthShort,
    ClientProxyConnectionAuthLong,
    ClientConnectToProxy,
    ClientConnectedToProxy,
    ClientAuthorizeWithProxyShort,
    ClientAuthorizeWithProxyLong,
    ClientAuthorizationWithProxySuccess,
    ClientAuthorizationWithProxyFailed,
    ClientUpdatePaymentStatus,
    ClientPaymentStatus,
    ClientGetWorkerTypesV2,
    ClientWorkerInstanceV2,
    ClientWorkerTypeV2,
    ClientWorkerTypesV2,
    ClientGetWorkerTypes,
    ClientWorkerType,
    ClientWorkerTypes,
    ClientRequestRefund,
    ClientRefund,
    ClientRefundRejected,
)
