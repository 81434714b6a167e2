"""The hello exchange: version negotiation and identities, as a small pure state machine.

The connecting side sends `Hello(min_version, max_version, role, node_id, software)`; the accepting
side picks the highest version both speak and answers `HelloAck(version, ...)`, or closes with
`VERSION_MISMATCH` when the ranges do not overlap. Either side closes with `REFUSED` when the peer's
role is not in its `accept_roles` (a client dialing the proxy's worker port, say). Nothing but
`Close` may precede the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.errors import ConfigError, RemoteProtocolError
from cocoon.wire.events import HandshakeCompleted
from cocoon.wire.frames import MAX_PAYLOAD
from cocoon.wire.messages import CloseCode, Hello, HelloAck, Role

PROTOCOL_VERSION = 1
"""The newest protocol version this code speaks."""


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Who we are and the limits of one connection. Times are seconds of the caller's clock."""

    role: Role
    node_id: str
    software: str = "cocoon"
    min_version: int = PROTOCOL_VERSION
    max_version: int = PROTOCOL_VERSION
    ping_interval: float = 10.0
    silence_timeout: float = 30.0
    max_frame: int = MAX_PAYLOAD
    max_cancelled: int = 1024
    accept_roles: frozenset[Role] = frozenset()
    """Peer roles allowed to complete the hello exchange (empty: any)."""


@dataclass(frozen=True, slots=True)
class HandshakeRefused:
    """The hello exchange failed: no common version, or a peer role this endpoint does not accept."""

    reason: str
    code: CloseCode


def choose_version(ours: tuple[int, int], theirs: tuple[int, int]) -> int | None:
    """The highest version inside both inclusive ranges, or None if they do not overlap."""
    low = max(ours[0], theirs[0])
    high = min(ours[1], theirs[1])
    return high if low <= high else None


class Handshake:
    """Tracks one side of the hello exchange."""

    __slots__ = ("_config", "_initiator", "version")

    def __init__(self, config: EndpointConfig, initiator: bool) -> None:
        if config.min_version > config.max_version:
            raise ConfigError(
                f"min_version {config.min_version} is above max_version {config.max_version}; swap them"
            )
        self._config = config
        self._initiator = initiator
        self.version: int | None = None

    @property
    def done(self) -> bool:
        """True once a version was agreed."""
        return self.version is not None

    def hello(self) -> Hello:
        """The connecting side's first message."""
        c = self._config
        return Hello(c.min_version, c.max_version, c.role, c.node_id, c.software)

    def receive(
        self, message: Hello | HelloAck
    ) -> tuple[HandshakeCompleted | HandshakeRefused, HelloAck | None]:
        """Process the peer's hello message: the outcome and the reply to send (if any).

        Raises `RemoteProtocolError` when the message is out of place (a second hello, an ack to the
        accepting side, a hello to the connecting side).
        """
        name = type(message).__name__
        if self.done:
            raise RemoteProtocolError(f"{name} received after the hello exchange already finished")
        expected = HelloAck if self._initiator else Hello
        if not isinstance(message, expected):
            raise RemoteProtocolError(f"{name} received where {expected.__name__} was expected")
        accepted = self._config.accept_roles
        if accepted and message.role not in accepted:
            allowed = ", ".join(sorted(role.value for role in accepted))
            reason = f"this endpoint accepts {allowed} peers, not a {message.role.value}; check the address"
            return HandshakeRefused(reason, CloseCode.REFUSED), None
        ours = (self._config.min_version, self._config.max_version)
        if isinstance(message, Hello):
            return self._accept(message, ours)
        if not ours[0] <= message.version <= ours[1]:
            reason = f"peer chose protocol version {message.version}, we speak {ours[0]}..{ours[1]}"
            return HandshakeRefused(reason, CloseCode.VERSION_MISMATCH), None
        self.version = message.version
        return HandshakeCompleted(message.version, message.role, message.node_id, message.software), None

    def _accept(
        self, hello: Hello, ours: tuple[int, int]
    ) -> tuple[HandshakeCompleted | HandshakeRefused, HelloAck | None]:
        theirs = (hello.min_version, hello.max_version)
        version = choose_version(ours, theirs)
        if version is None:
            reason = (
                f"no common protocol version: we speak {ours[0]}..{ours[1]}, "
                f"the peer {theirs[0]}..{theirs[1]}; upgrade the older side"
            )
            return HandshakeRefused(reason, CloseCode.VERSION_MISMATCH), None
        self.version = version
        c = self._config
        ack = HelloAck(version, c.role, c.node_id, c.software)
        return HandshakeCompleted(version, hello.role, hello.node_id, hello.software), ack
