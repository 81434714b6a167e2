"""Client <-> proxy control messages: connecting and authorising.

Functions (`ClientConnectToProxy`, `ClientAuthorizeWithProxyShort`, ...) travel boxed in a
``tcp.query``; the constructors of their result type come back in ``tcp.queryAnswer``. Flags are
computed from which optional fields are set (see `cocoon.tl.base.TLObject`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from cocoon.tl.base import TLObject
from cocoon.tl.types_payment import AnyProxySignedPayment


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

CLIENT_TYPES: tuple[type[TLObject], ...] = (
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
)
