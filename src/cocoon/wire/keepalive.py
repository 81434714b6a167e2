"""Keepalive timing, as pure arithmetic over the `now` values the caller passes in.

Any received byte proves the peer alive. After `ping_interval` seconds without receiving anything we
send a `Ping` (and again every `ping_interval` while silence lasts); after `silence_timeout` seconds
without receiving anything the connection is declared dead. Before the handshake completes no pings
are sent: the silence timeout alone bounds how long a peer may take to say hello.
"""

from __future__ import annotations

from cocoon.errors import ConfigError


class Keepalive:
    """When to ping and when to give up, given the time of the last received byte."""

    __slots__ = ("_last_ping", "_last_received", "ping_interval", "silence_timeout")

    def __init__(self, ping_interval: float, silence_timeout: float, now: float) -> None:
        if not 0 < ping_interval < silence_timeout:
            raise ConfigError(
                f"ping_interval ({ping_interval}) must be positive and below silence_timeout "
                f"({silence_timeout}), otherwise a quiet but healthy peer is declared dead"
            )
        self.ping_interval = ping_interval
        self.silence_timeout = silence_timeout
        self._last_received = now
        self._last_ping = now

    @property
    def last_received(self) -> float:
        """When we last received bytes (or the connection started)."""
        return self._last_received

    def received(self, now: float) -> None:
        """Record that bytes arrived at `now`."""
        if now > self._last_received:
            self._last_received = now

    def expired(self, now: float) -> bool:
        """True when the peer has been silent for `silence_timeout` seconds."""
        return now >= self._last_received + self.silence_timeout

    def ping_due(self, now: float) -> bool:
        """True when a ping should go out now (silence for `ping_interval` since the last one)."""
        return now >= self._next_ping()

    def pinged(self, now: float) -> None:
        """Record that a ping was sent at `now`."""
        self._last_ping = now

    def next_deadline(self, pinging: bool) -> float:
        """The earliest time `ping_due` or `expired` can become true."""
        expiry = self._last_received + self.silence_timeout
        return min(expiry, self._next_ping()) if pinging else expiry

    def _next_ping(self) -> float:
        return max(self._last_received, self._last_ping) + self.ping_interval
