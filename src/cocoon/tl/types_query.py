"""Inference requests and their answers on the client hop, and the proxy's per-request payments.

The client sends `ClientRunQueryEx` in a ``tcp.packet`` with ``query`` = a boxed `HttpRequest`; the
proxy answers with packets carrying the same ``request_id``: `ClientQueryAnswerEx` (``answer`` = a
boxed `HttpResponse`), then `ClientQueryAnswerPartEx` chunks (``answer`` = raw body bytes), or
`ClientQueryAnswerErrorEx`; ``final_info`` set marks the last one. Early rejections and protocol-0
peers use the legacy family of `cocoon.tl.types_legacy`, which must be handled too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from cocoon.tl.base import TLObject
from cocoon.tl.types_payment import AnyProxySignedPayment


@dataclass(frozen=True, slots=True)
class ClientRunQueryEx(TLObject):
    """Packet: run one inference request (``public_key``, flag bit 1: the end-to-end key, proto >= 3).

    TL: ``client.runQueryEx model_name:string query:bytes max_coefficient:int max_tokens:int timeout:double
    request_id:int256 min_config_version:int flags:# enable_debug:flags.0?Bool public_key:flags.1?int256
    = client.QueryAnswerEx``
    """

    TL_NAME: ClassVar[str] = "client.runQueryEx"
    TL_ID: ClassVar[int] = 0xF54CB74B

    model_name: str
    query: bytes
    max_coefficient: int
    max_tokens: int
    timeout: float
    request_id: bytes
    min_config_version: int
    enable_debug: bool | None = None
    public_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class TokensUsed(TLObject):
    """Token counts of one request.

    TL: ``tokensUsed prompt_tokens_used:long cached_tokens_used:long completion_tokens_used:long
    reasoning_tokens_used:long total_tokens_used:long = TokensUsed``
    """

    TL_NAME: ClassVar[str] = "tokensUsed"
    TL_ID: ClassVar[int] = 0x70C5B15C

    prompt_tokens_used: int
    cached_tokens_used: int
    completion_tokens_used: int
    reasoning_tokens_used: int
    total_tokens_used: int


@dataclass(frozen=True, slots=True)
class ClientQueryFinalInfo(TLObject):
    """Closing information of a request: tokens and optional debug/timing (bit 0 debug, bit 1 times).

    TL: ``client.queryFinalInfo flags:# tokens_used:tokensUsed worker_debug:flags.0?string
    proxy_debug:flags.0?string proxy_start_time:flags.1?double proxy_end_time:flags.1?double
    worker_start_time:flags.1?double worker_end_time:flags.1?double = client.QueryFinalInfo``
    """

    TL_NAME: ClassVar[str] = "client.queryFinalInfo"
    TL_ID: ClassVar[int] = 0x69A452F0

    tokens_used: TokensUsed
    worker_debug: str | None = None
    proxy_debug: str | None = None
    proxy_start_time: float | None = None
    proxy_end_time: float | None = None
    worker_start_time: float | None = None
    worker_end_time: float | None = None


@dataclass(frozen=True, slots=True)
class ClientQueryAnswerEx(TLObject):
    """First answer packet of a request: ``answer`` is a boxed `HttpResponse`.

    TL: ``client.queryAnswerEx request_id:int256 answer:bytes flags:# final_info:flags.0?client.queryFinalInfo
    = client.QueryAnswerEx``
    """

    TL_NAME: ClassVar[str] = "client.queryAnswerEx"
    TL_ID: ClassVar[int] = 0xCD524720

    request_id: bytes
    answer: bytes
    final_info: ClientQueryFinalInfo | None = None


@dataclass(frozen=True, slots=True)
class ClientQueryAnswerPartEx(TLObject):
    """A further answer packet: ``answer`` is the next raw body chunk.

    TL: ``client.queryAnswerPartEx request_id:int256 answer:bytes flags:#
    final_info:flags.0?client.queryFinalInfo = client.QueryAnswerEx``
    """

    TL_NAME: ClassVar[str] = "client.queryAnswerPartEx"
    TL_ID: ClassVar[int] = 0xC07BFAEC

    request_id: bytes
    answer: bytes
    final_info: ClientQueryFinalInfo | None = None


@dataclass(frozen=True, slots=True)
class ClientQueryAnswerErrorEx(TLObject):
    """The request failed (may come at any point of the answer).

    TL: ``client.queryAnswerErrorEx request_id:int256 error_code:int error:string flags:#
    final_info:flags.0?client.queryFinalInfo = client.QueryAnswerEx``
    """

    TL_NAME: ClassVar[str] = "client.queryAnswerErrorEx"
    TL_ID: ClassVar[int] = 0x072562A8

    request_id: bytes
    error_code: int
    error: str
    final_info: ClientQueryFinalInfo | None = None


AnyClientQueryAnswerEx: TypeAlias = ClientQueryAnswerEx | ClientQueryAnswerPartEx | ClientQueryAnswerErrorEx
"""``client.QueryAnswerEx``: an answer packet of the current family."""


@dataclass(frozen=True, slots=True)
class ProxyClientRequestPayment(TLObject):
    """Packet: the proxy's signed payment after (or during) a request.

    TL: ``proxy.clientRequestPayment request_id:int256 signed_payment:proxy.SignedPayment db_tokens:long
    max_tokens:long request_tokens:long = proxy.WorkerRequestPayment``
    """

    TL_NAME: ClassVar[str] = "proxy.clientRequestPayment"
    TL_ID: ClassVar[int] = 0xC6BCF127

    request_id: bytes
    signed_payment: AnyProxySignedPayment
    db_tokens: int
    max_tokens: int
    request_tokens: int


QUERY_TYPES: tuple[type[TLObject], ...] = (
    ClientRunQueryEx,
    TokensUsed,
    ClientQueryFinalInfo,
    ClientQueryAnswerEx,
    ClientQueryAnswerPartEx,
    ClientQueryAnswerErrorEx,
    ProxyClientRequestPayment,
)
