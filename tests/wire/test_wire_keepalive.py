"""Keepalive and handshake deadlines, driven by a fake `now`."""

from __future__ import annotations

import pytest

from cocoon.errors import ConfigError
from cocoon.wire.codec import decode_message, encode_message_frame
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.events import ConnectionTerminated, PongReceived
from cocoon.wire.frames import FrameDecoder
from cocoon.wire.messages import Close, CloseCode, Message, PaymentUpdate, Ping, Pong, Role
from cocoon.wire.session import EndpointConfig


def config(role: Role) -> EndpointConfig:
    return EndpointConfig(role, role.value, ping_interval=10.0, silence_timeout=30.0)


def sent(endpoint: RpcEndpoint) -> list[Message]:
    return [decode_message(p) for p in FrameDecoder().feed(endpoint.data_to_send())]


def open_pair() -> tuple[RpcEndpoint, RpcEndpoint]:
    client = RpcEndpoint(config(Role.CLIENT), initiator=True, now=0.0)
    proxy = RpcEndpoint(config(Role.PROXY), initiator=False, now=0.0)
    proxy.receive_data(client.data_to_send(), 0.0)
    client.receive_data(proxy.data_to_send(), 0.0)
    return client, proxy


def test_ping_after_idle_interval_and_rtt_from_pong() -> None:
    client, proxy = open_pair()
    assert client.next_deadline() == 10.0
    assert client.handle_timer(9.9) == [] and sent(client) == []
    assert client.handle_timer(10.0) == []
    [ping] = sent(client)
    assert isinstance(ping, Ping)
    assert client.next_deadline() == 20.0  # the next ping, still before the 30 s expiry
    assert proxy.receive_data(encode_message_frame(ping), 10.2) == []
    [pong] = sent(proxy)
    assert pong == Pong(ping.ping_id)
    [event] = client.receive_data(encode_message_frame(pong), 10.5)
    assert isinstance(event, PongReceived) and event.ping_id == ping.ping_id
    assert event.rtt == pytest.approx(0.5)
    assert client.next_deadline() == 20.5  # received data postpones both deadlines


def test_silence_timeout_closes_with_keepalive_code() -> None:
    client, _ = open_pair()
    for now in (10.0, 20.0):
        assert client.handle_timer(now) == []
        assert [type(m) for m in sent(client)] == [Ping]
    [ended] = client.handle_timer(30.0)
    assert isinstance(ended, ConnectionTerminated) and ended.local
    assert ended.code is CloseCode.KEEPALIVE_TIMEOUT and "no data from the peer for 30.0 s" in ended.reason
    assert sent(client) == [Close(CloseCode.KEEPALIVE_TIMEOUT, ended.reason)]
    assert client.next_deadline() is None and client.handle_timer(99.0) == []


def test_any_incoming_frame_keeps_the_session_alive_but_empty_reads_do_not() -> None:
    client, proxy = open_pair()
    update = PaymentUpdate("EQc", 1, 0, 0)
    for now in (8.0, 16.0, 24.0, 32.0, 40.0):
        proxy.send_payment_update(update)
        assert client.receive_data(proxy.data_to_send(), now) == [update]
        assert client.handle_timer(now) == []
    assert client.is_open and sent(client) == []  # traffic kept arriving: not even a ping was needed
    client.receive_data(b"", 69.0)
    [ended] = client.handle_timer(70.0)
    assert isinstance(ended, ConnectionTerminated) and ended.code is CloseCode.KEEPALIVE_TIMEOUT


def test_handshake_must_finish_within_the_silence_timeout() -> None:
    proxy = RpcEndpoint(config(Role.PROXY), initiator=False, now=100.0)
    assert proxy.next_deadline() == 130.0  # no pings before the hello exchange
    assert proxy.handle_timer(129.0) == [] and sent(proxy) == []
    [ended] = proxy.handle_timer(130.0)
    assert isinstance(ended, ConnectionTerminated) and "no hello from the peer" in ended.reason


def test_ping_interval_must_be_below_silence_timeout() -> None:
    bad = EndpointConfig(Role.PROXY, "p", ping_interval=30.0, silence_timeout=30.0)
    with pytest.raises(ConfigError, match="must be positive and below silence_timeout"):
        RpcEndpoint(bad, initiator=False, now=0.0)
