"""HTTP requests and answers as the COCOON network carries them (inside ``bytes`` fields, boxed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cocoon.tl.base import TLObject


@dataclass(frozen=True, slots=True)
class HttpHeader(TLObject):
    """One HTTP header.

    TL: ``http.header name:string value:string = http.Header``
    """

    TL_NAME: ClassVar[str] = "http.header"
    TL_ID: ClassVar[int] = 0x8E9BE511

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class HttpRequest(TLObject):
    """An HTTP request, carried boxed in ``ClientRunQueryEx.query``.

    TL: ``http.request method:string url:string http_version:string headers:vector http.header payload:bytes =
    http.Response``
    """

    TL_NAME: ClassVar[str] = "http.request"
    TL_ID: ClassVar[int] = 0x47492DE5

    method: str
    url: str
    http_version: str
    headers: tuple[HttpHeader, ...]
    payload: bytes


@dataclass(frozen=True, slots=True)
class HttpResponse(TLObject):
    """The head and first body bytes of an HTTP answer, boxed in ``ClientQueryAnswerEx.answer``.

    TL: ``http.response http_version:string status_code:int reason:string headers:vector http.header
    payload:bytes = http.Response``
    """

    TL_NAME: ClassVar[str] = "http.response"
    TL_ID: ClassVar[int] = 0x1CD0C42B

    http_version: str
    status_code: int
    reason: str
    headers: tuple[HttpHeader, ...]
    payload: bytes


HTTP_TYPES: tuple[type[TLObject], ...] = (
    HttpHeader,
    HttpRequest,
    HttpResponse,
)
