"""The ``tcp.*`` envelope every frame of a connection carries (typed `TLObject` classes).

The outbound side opens with `TcpConnect` and waits for `TcpConnected`; requests travel in
`TcpQuery` and come back as `TcpQueryAnswer` or `TcpQueryError`; one-way messages in `TcpPacket`;
`TcpPing`/`TcpPong` keep the connection alive. Every ``data`` field holds one boxed TL object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from cocoon.tl.base import TLObject


@dataclass(frozen=True, slots=True)
class TcpConnect(TLObject):
    """First frame of the outbound side; the inbound side answers with `TcpConnected` and the same id.

    TL: ``tcp.connect id:long = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.connect"
    TL_ID: ClassVar[int] = 0xA57C4261

    id: int


@dataclass(frozen=True, slots=True)
class TcpConnected(TLObject):
    """The inbound side's answer to `TcpConnect`.

    TL: ``tcp.connected id:long = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.connected"
    TL_ID: ClassVar[int] = 0x636D41D6

    id: int


@dataclass(frozen=True, slots=True)
class TcpPing(TLObject):
    """Keepalive probe; the peer answers `TcpPong` with the same id.

    TL: ``tcp.ping id:long = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.ping"
    TL_ID: ClassVar[int] = 0xBBE9627C

    id: int


@dataclass(frozen=True, slots=True)
class TcpPong(TLObject):
    """Answer to `TcpPing`.

    TL: ``tcp.pong id:long = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.pong"
    TL_ID: ClassVar[int] = 0x0BD4302C

    id: int


@dataclass(frozen=True, slots=True)
class TcpPacket(TLObject):
    """A one-way message; ``data`` is a boxed TL object.

    TL: ``tcp.packet data:bytes = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.packet"
    TL_ID: ClassVar[int] = 0x9C17BAF8

    data: bytes


@dataclass(frozen=True, slots=True)
class TcpQuery(TLObject):
    """A request; ``data`` is a boxed TL function call, answered under the same id.

    TL: ``tcp.query id:long data:bytes = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.query"
    TL_ID: ClassVar[int] = 0x3AF51908

    id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TcpQueryAnswer(TLObject):
    """The successful answer to the `TcpQuery` with the same id; ``data`` is the boxed result.

    TL: ``tcp.queryAnswer id:long data:bytes = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.queryAnswer"
    TL_ID: ClassVar[int] = 0xC048C311

    id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TcpQueryError(TLObject):
    """The failed answer to the `TcpQuery` with the same id.

    TL: ``tcp.queryError id:long code:int message:string = tcp.Packet``
    """

    TL_NAME: ClassVar[str] = "tcp.queryError"
    TL_ID: ClassVar[int] = 0x4CD2F602

    id: int
    code: int
    message: str


AnyTcpPacket: TypeAlias = (
    TcpConnect | TcpConnected | TcpPing | TcpPong | TcpPacket | TcpQuery | TcpQueryAnswer | TcpQueryError
)
"""Any frame body of a connection (``tcp.Packet``)."""

TCP_TYPES: tuple[type[TLObject], ...] = (
    TcpConnect,
    TcpConnected,
    TcpPing,
    TcpPong,
    TcpPacket,
    TcpQuery,
    TcpQueryAnswer,
    TcpQueryError,
)
