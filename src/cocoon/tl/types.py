"""Every typed TL message of the client hop and the tcp envelope, in one namespace.

One frozen dataclass per constructor or function, named by CamelCase of its TL name (``tcp.connect``
-> `TcpConnect`, ``client.runQueryEx`` -> `ClientRunQueryEx`, ``tokensUsed`` -> `TokensUsed`); the
``Any*`` aliases are the polymorphic (boxed) types. `ALL_TYPES` is what `cocoon.tl.codec` can decode.
Import from here: the ``types_*`` modules only split the classes by topic.
"""

from __future__ import annotations

from cocoon.tl.base import TLObject
from cocoon.tl.types_client import (
    CLIENT_TYPES,
    AnyClientAuthorizationWithProxy,
    AnyClientProxyConnectionAuth,
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
from cocoon.tl.types_http import (
    HTTP_TYPES,
    HttpHeader,
    HttpRequest,
    HttpResponse,
)
from cocoon.tl.types_legacy import (
    LEGACY_TYPES,
    AnyClientQueryAnswer,
    AnyClientQueryAnswerPart,
    ClientQueryAnswer,
    ClientQueryAnswerError,
    ClientQueryAnswerPart,
    ClientQueryAnswerPartError,
    ClientRunQuery,
)
from cocoon.tl.types_payment import (
    PAYMENT_TYPES,
    AnyClientRefund,
    AnyProxySignedPayment,
    ClientPaymentStatus,
    ClientRefund,
    ClientRefundRejected,
    ClientRequestRefund,
    ClientUpdatePaymentStatus,
    ProxySignedPayment,
    ProxySignedPaymentEmpty,
)
from cocoon.tl.types_query import (
    QUERY_TYPES,
    AnyClientQueryAnswerEx,
    ClientQueryAnswerErrorEx,
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    ClientQueryFinalInfo,
    ClientRunQueryEx,
    ProxyClientRequestPayment,
    TokensUsed,
)
from cocoon.tl.types_tcp import (
    TCP_TYPES,
    AnyTcpPacket,
    TcpConnect,
    TcpConnected,
    TcpPacket,
    TcpPing,
    TcpPong,
    TcpQuery,
    TcpQueryAnswer,
    TcpQueryError,
)
from cocoon.tl.types_workers import (
    WORKER_LIST_TYPES,
    ClientGetWorkerTypes,
    ClientGetWorkerTypesV2,
    ClientWorkerInstanceV2,
    ClientWorkerType,
    ClientWorkerTypes,
    ClientWorkerTypesV2,
    ClientWorkerTypeV2,
)

ALL_TYPES: tuple[type[TLObject], ...] = (
    TCP_TYPES + CLIENT_TYPES + PAYMENT_TYPES + WORKER_LIST_TYPES + HTTP_TYPES + QUERY_TYPES + LEGACY_TYPES
)
"""Every typed class; `cocoon.tl.codec` decodes exactly these constructors."""

__all__ = [
    "ALL_TYPES",
    "CLIENT_TYPES",
    "HTTP_TYPES",
    "LEGACY_TYPES",
    "PAYMENT_TYPES",
    "QUERY_TYPES",
    "TCP_TYPES",
    "WORKER_LIST_TYPES",
    "AnyClientAuthorizationWithProxy",
    "AnyClientProxyConnectionAuth",
    "AnyClientQueryAnswer",
    "AnyClientQueryAnswerEx",
    "AnyClientQueryAnswerPart",
    "AnyClientRefund",
    "AnyProxySignedPayment",
    "AnyTcpPacket",
    "ClientAuthorizationWithProxyFailed",
    "ClientAuthorizationWithProxySuccess",
    "ClientAuthorizeWithProxyLong",
    "ClientAuthorizeWithProxyShort",
    "ClientConnectToProxy",
    "ClientConnectedToProxy",
    "ClientGetWorkerTypes",
    "ClientGetWorkerTypesV2",
    "ClientParams",
    "ClientPaymentStatus",
    "ClientProxyConnectionAuthLong",
    "ClientProxyConnectionAuthShort",
    "ClientQueryAnswer",
    "ClientQueryAnswerError",
    "ClientQueryAnswerErrorEx",
    "ClientQueryAnswerEx",
    "ClientQueryAnswerPart",
    "ClientQueryAnswerPartError",
    "ClientQueryAnswerPartEx",
    "ClientQueryFinalInfo",
    "ClientRefund",
    "ClientRefundRejected",
    "ClientRequestRefund",
    "ClientRunQuery",
    "ClientRunQueryEx",
    "ClientUpdatePaymentStatus",
    "ClientWorkerInstanceV2",
    "ClientWorkerType",
    "ClientWorkerTypeV2",
    "ClientWorkerTypes",
    "ClientWorkerTypesV2",
    "HttpHeader",
    "HttpRequest",
    "HttpResponse",
    "ProxyClientRequestPayment",
    "ProxyParams",
    "ProxySignedPayment",
    "ProxySignedPaymentEmpty",
    "TLObject",
    "TcpConnect",
    "TcpConnected",
    "TcpPacket",
    "TcpPing",
    "TcpPong",
    "TcpQuery",
    "TcpQueryAnswer",
    "TcpQueryError",
    "TokensUsed",
]
