"""The typed codec: hand-checked bytes, round trips of every class, and what it refuses."""

from __future__ import annotations

import struct

import pytest
from tl_samples import sample

from cocoon.tl import types as t
from cocoon.tl.codec import constructor_name, decode, decode_as, encode
from cocoon.tl.errors import TLDecodeError, TLEncodeError
from cocoon.tl.generic import GenericObject, decode_generic, describe, encode_generic
from cocoon.tl.types import ALL_TYPES


def le32(value: int) -> bytes:
    return struct.pack("<I", value)


def test_tcp_ping_bytes() -> None:
    data = encode(t.TcpPing(id=1))
    assert data == bytes.fromhex("7c62e9bb0100000000000000")
    assert decode(data) == t.TcpPing(1)


def test_tcp_query_error_bytes() -> None:
    data = encode(t.TcpQueryError(id=-1, code=500, message="bad"))
    assert data == le32(0x4CD2F602) + b"\xff" * 8 + le32(500) + b"\x03bad"


@pytest.mark.parametrize(
    ("size", "header", "padding"),
    [(0, b"\x00", 3), (1, b"\x01", 2), (3, b"\x03", 0), (253, b"\xfd", 2), (254, b"\xfe\xfe\x00\x00", 2)],
)
def test_string_lengths_and_padding(size: int, header: bytes, padding: int) -> None:
    payload = bytes(range(256))[:size]
    data = encode(t.TcpPacket(data=payload))
    assert data == le32(0x9C17BAF8) + header + payload + b"\x00" * padding
    assert len(data) % 4 == 0
    assert decode(data) == t.TcpPacket(payload)


def test_long_string_of_70000_bytes() -> None:
    payload = b"x" * 70000
    data = encode(t.TcpPacket(payload))
    assert data[4:8] == b"\xfe" + (70000).to_bytes(3, "little")
    assert decode(data) == t.TcpPacket(payload)


def test_bare_params_with_flags_absent() -> None:
    data = encode(t.ClientConnectToProxy(params=t.ClientParams("addr"), min_config_version=5))
    # client.connectToProxy ff5fa0f4, bare client.params: flags 0, "addr", then min_config_version
    assert data == bytes.fromhex("f4a05fff00000000046164647200000005000000")


def test_bare_params_with_flags_present() -> None:
    params = t.ClientParams("addr", is_test=True, min_proto_version=1, max_proto_version=4)
    data = encode(t.ClientConnectToProxy(params=params, min_config_version=5))
    assert data == bytes.fromhex("f4a05fff030000000461646472000000b5757299010000000400000005000000")
    assert decode(data) == t.ClientConnectToProxy(params, 5)


def test_run_query_ex_bytes() -> None:
    query = encode(
        t.HttpRequest("POST", "/v1/chat/completions", "HTTP/1.1", (t.HttpHeader("a", "b"),), b"{}")
    )
    msg = t.ClientRunQueryEx(
        model_name="m",
        query=query,
        max_coefficient=4000,
        max_tokens=10000,
        timeout=120.0,
        request_id=b"\x11" * 32,
        min_config_version=7,
        public_key=b"\x22" * 32,
    )
    data = encode(msg)
    expected = (
        le32(0xF54CB74B)
        + b"\x01m\x00\x00"
        + bytes([len(query)]) + query + b"\x00" * (-(len(query) + 1) % 4)
        + le32(4000) + le32(10000) + struct.pack("<d", 120.0) + b"\x11" * 32 + le32(7)
        + le32(2) + b"\x22" * 32
    )  # fmt: skip
    assert data == expected
    assert decode(data) == msg
    assert decode_as(msg.query, t.HttpRequest).headers == (t.HttpHeader("a", "b"),)


def test_boxed_polymorphic_fields() -> None:
    msg = t.ClientConnectedToProxy(
        params=t.ProxyParams(b"\x01" * 32, "owner", "sc", is_test=False, proto_version=4),
        client_sc_address="client-sc",
        auth=t.ClientProxyConnectionAuthLong(nonce=9),
        signed_payment=t.ProxySignedPaymentEmpty(),
    )
    data = encode(msg)
    assert data.endswith(le32(0x417BF016) + struct.pack("<q", 9) + le32(0xB347CE64))
    assert decode(data) == msg


def test_final_info_flags() -> None:
    info = t.ClientQueryFinalInfo(
        t.TokensUsed(1, 2, 3, 4, 10), proxy_start_time=1.0, proxy_end_time=2.0, worker_start_time=3.0,
        worker_end_time=4.0,
    )  # fmt: skip
    answer = t.ClientQueryAnswerPartEx(request_id=b"\x00" * 32, answer=b"", final_info=info)
    data = encode(answer)
    assert data[4 + 32 + 4 : 4 + 32 + 8] == le32(1)  # answer flags: bit 0 (final_info present)
    assert data[4 + 32 + 8 : 4 + 32 + 12] == le32(2)  # final info flags: bit 1 (times), no debug
    assert decode(data) == answer
    assert decode(encode(t.ClientQueryAnswerPartEx(b"\x00" * 32, b"x"))).final_info is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.TL_NAME)
@pytest.mark.parametrize("optional", [True, False])
def test_every_class_round_trips_and_agrees_with_the_generic_codec(
    cls: type[t.TLObject], optional: bool
) -> None:
    obj = sample(cls, 3, optional)
    data = encode(obj)
    assert decode(data) == obj
    assert decode_as(data, cls) == obj
    assert constructor_name(data) == cls.TL_NAME
    generic = decode_generic(data)
    assert generic.name == cls.TL_NAME
    assert encode_generic(generic) == data


def test_decode_as_refuses_another_constructor() -> None:
    with pytest.raises(TLDecodeError, match=r"expected tcp\.pong, got tcp\.ping"):
        decode_as(encode(t.TcpPing(1)), t.TcpPong)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"\x7c\x62\xe9", "truncated"),
        (bytes.fromhex("7c62e9bb01000000"), "truncated"),
        (bytes.fromhex("7c62e9bb010000000000000000"), "unexpected bytes"),
        (bytes.fromhex("01020304") + b"\x00" * 8, "unknown TL constructor id 04030201"),
        (le32(0x9C17BAF8) + b"\x05abc", "truncated"),
        (le32(0x9C17BAF8) + b"\xff" + b"\x00" * 7, "0xFF"),
        (le32(0x4CD2F602) + b"\x00" * 12 + b"\x02\xff\xfe\x00", "not UTF-8"),
        (le32(0xCC484C5D) + b"\x00" * 4, "not a message we handle"),  # worker.connectToProxy
    ],
)
def test_bad_input_raises_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(TLDecodeError, match=message):
        decode(data)


def test_bad_bool_and_wrong_boxed_type_are_refused() -> None:
    good = encode(t.ClientParams("a", is_test=True, min_proto_version=1, max_proto_version=1))
    bad_bool = good.replace(le32(0x997275B5), le32(0x3FEDD339))  # `true`, not a Bool
    with pytest.raises(TLDecodeError, match="expected a Bool"):
        decode(bad_bool)
    status = encode(t.ClientPaymentStatus(t.ProxySignedPaymentEmpty(), 1, 2))
    wrong = status.replace(le32(0xB347CE64), le32(0xBBE9627C))  # a tcp.ping where a payment goes
    with pytest.raises(TLDecodeError, match=r"expected a proxy\.SignedPayment"):
        decode(wrong)


def test_absurd_vector_count_is_refused_without_allocating() -> None:
    data = le32(0x0CDC67F0 & 0xFFFFFFFF)  # placeholder replaced below
    data = le32(t.ClientWorkerTypesV2.TL_ID) + le32(0xFFFFFFFF)
    with pytest.raises(TLDecodeError, match="claims 4294967295 elements"):
        decode(data)


def test_padding_content_is_not_checked_like_the_reference() -> None:
    data = le32(0x9C17BAF8) + b"\x01a\xaa\xbb"
    assert decode(data) == t.TcpPacket(b"a")


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (t.TcpPing(1 << 63), "outside"),
        (t.TcpQueryError(1, 1 << 31, "x"), "outside"),
        (t.TcpPing(True), "expects an int"),
        (t.TcpPacket("text"), "expected bytes"),  # type: ignore[arg-type]
        (t.ProxyParams(b"short", "a", "b"), "32 bytes"),
        (t.ClientQueryFinalInfo(t.TokensUsed(0, 0, 0, 0, 0), worker_debug="w"), "all be set"),
        (t.ClientPaymentStatus(t.TcpPing(1), 1, 2), r"expected proxy\.SignedPayment, got tcp\.ping"),  # type: ignore[arg-type]
        (t.ClientConnectToProxy(t.TokensUsed(0, 0, 0, 0, 0), 1), r"expected client\.params"),  # type: ignore[arg-type]
        (t.ClientWorkerTypesV2(types=None), "expected a tuple"),  # type: ignore[arg-type]
    ],
)
def test_bad_values_raise_encode_error(obj: t.TLObject, message: str) -> None:
    with pytest.raises(TLEncodeError, match=message):
        encode(obj)


def test_encode_refuses_non_messages() -> None:
    with pytest.raises(TLEncodeError):
        encode(object())  # type: ignore[arg-type]


def test_generic_keeps_flags_and_non_utf8_strings() -> None:
    data = encode(t.ClientParams("a", is_test=True)).replace(b"\x01a\x00\x00", b"\x01\xff\x00\x00")
    with pytest.raises(TLDecodeError):
        decode(data)
    # ClientParams has flags bit 0 with is_test only: the generic value shows both as they are.
    generic = decode_generic(data)
    assert generic == GenericObject(
        "client.params", 0x40FDCA64, {"flags": 1, "client_owner_address": b"\xff", "is_test": True}
    )
    assert encode_generic(generic) == data
    assert "client.params" in describe(data)
    assert describe(b"\x01\x02").startswith("<undecodable TL, 2 bytes")


def test_describe_summarises_large_values() -> None:
    text = describe(encode(t.TcpPacket(b"\x01" * 100_000)), limit=10_000)
    assert text == "tcp.packet{data=<100000 bytes " + "01" * 16 + "...>}"
    assert len(describe(encode(t.TcpQueryError(1, 2, "x" * 1000)), limit=80)) == 80
