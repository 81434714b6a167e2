"""The legacy (protocol 0) request and answers, still used by proxies for early rejections.

The answers carry the same ``request_id`` as the request; `ClientQueryAnswerError` is what a
current proxy sends when it refuses a request before any worker saw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from cocoon.tl.base import TLObject
from cocoon.tl.types_query import TokensUsed


@dataclass(frozen=True, slots=True)
class ClientRunQuery(TLObject):
    """Packet (legacy, protocol 0): run one inference request.

    TL: ``client.runQuery model_name:string query:bytes max_coefficient:int max_tokens:int timeout:double
    request_id:int256 min_config_version:int = client.QueryAnswer``
    """

    TL_NAME: ClassVar[str] = "client.runQuery"
    TL_ID: ClassVar[int] = 0xBC748F32

    model_name: str
    query: bytes
    max_coefficient: int
    max_tokens: int
    timeout: float
    request_id: bytes
    min_config_version: int


@dataclass(frozen=True, slots=True)
class ClientQueryAnswer(TLObject):
    """Legacy first answer packet (also protocol-0 peers).

    TL: ``client.queryAnswer answer:bytes is_completed:Bool request_id:int256 request_tokens_used:tokensUsed =
    client.QueryAnswer``
    """

    TL_NAME: ClassVar[str] = "client.queryAnswer"
    TL_ID: ClassVar[int] = 0x9B943922

    answer: bytes
    is_completed: bool
    request_id: bytes
    request_tokens_used: TokensUsed


@dataclass(frozen=True, slots=True)
class ClientQueryAnswerError(TLObject):
    """Legacy error answer (still used for early rejections).

    TL: ``client.queryAnswerError error_code:int error:string request_id:int256 request_tokens_used:tokensUsed
    = client.QueryAnswer``
    """

    TL_NAME: ClassVar[str] = "client.queryAnswerError"
    TL_ID: ClassVar[int] = 0x6D60569A

    error_code: int
    error: str
    request_id: bytes
    request_tokens_used: TokensUsed


@dataclass(frozen=True, slots=True)
class ClientQueryAnswerPart(TLObject):
    """Legacy further answer packet.

    TL: ``client.queryAnswerPart answer:bytes is_completed:Bool request_id:int256
    request_tokens_used:tokensUsed = client.QueryAnswerPart``
    """

    TL_NAME: ClassVar[str] = "client.queryAnswerPart"
    TL_ID: ClassVar[int] = 0xB765DE4C

    answer: bytes
    is_completed: bool
    request_id: bytes
    request_tokens_used: TokensUsed


@dataclass(frozen=True, slots=True)
class ClientQueryAnswerPartError(TLObject):
    """Legacy error after part of the answer.

    TL: ``client.queryAnswerPartError error_code:int error:string request_id:int256
    request_tokens_used:tokensUsed = client.QueryAnswerPart``
    """

    TL_NAME: ClassVar[str] = "client.queryAnswerPartError"
    TL_ID: ClassVar[int] = 0xD790A022

    error_code: int
    error: str
    request_id: bytes
    request_tokens_used: TokensUsed


AnyClientQueryAnswer: TypeAlias = ClientQueryAnswer | ClientQueryAnswerError
"""``client.QueryAnswer``: a legacy first answer."""

AnyClientQueryAnswerPart: TypeAlias = ClientQueryAnswerPart | ClientQueryAnswerPartError
"""``client.QueryAnswerPart``: a legacy further answer."""

LEGACY_TYPES: tuple[type[TLObject], ...] = (
    ClientRunQuery,
    ClientQueryAnswer,
    ClientQueryAnswerError,
    ClientQueryAnswerPart,
    ClientQueryAnswerPartError,
)
