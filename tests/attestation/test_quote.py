"""TDX quote parsing: the real vectors, v5 layouts, and rejection of malformed input with DecodeError."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocoon.attestation.quote import MAX_QUOTE_SIZE, parse_quote
from cocoon.attestation.quote_describe import describe_quote
from cocoon.errors import DecodeError

COCOON = "cocoon-tdx-quote.dat"
DCAP = "dcap-tdx-quote.bin"
BODY_END_V4 = 48 + 584


def test_cocoon_vector_fields(vectors) -> None:
    q = parse_quote(vectors.read(COCOON))
    m = q.measurements
    assert (q.header.version, q.header.att_key_type, q.header.tee_type) == (4, 2, 0x81)
    assert m.image_hash.hex() == "04b3afd931d28680af91a15b09d672c40ad6b141f7f9089a8d67d595220f7436"
    assert m.mr_td.hex().startswith("7357a10d2e2724df")
    assert m.report_data.hex().startswith("d21efaa8d7de2b0f")
    assert m.rtmr3 == bytes(48)
    assert not m.is_debug
    assert q.used_size == 4940 and len(q.raw) == 5010
    assert q.signed_bytes == q.raw[:BODY_END_V4]


def test_cocoon_vector_signature_section(vectors) -> None:
    sig = parse_quote(vectors.read(COCOON)).signature
    assert len(sig.ecdsa_signature) == 64 and len(sig.attestation_key) == 64
    assert len(sig.qe_report.raw) == 384 and len(sig.qe_auth_data) == 32
    assert sig.pck_chain_pem.count(b"-----BEGIN CERTIFICATE-----") == 3
    assert sig.qe_report.report_data[32:] == bytes(32)


def test_dcap_vector_image_hash(vectors) -> None:
    q = parse_quote(vectors.read(DCAP))
    assert (
        q.measurements.image_hash.hex() == "b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752"
    )
    assert q.used_size == 4936


def _as_v5(v4: bytes, body_type: int) -> bytes:
    """Re-frame a v4 quote as v5 (signature no longer valid; parsing only)."""
    extra = bytes(range(64)) if body_type == 3 else b""
    body = v4[48:BODY_END_V4] + extra
    header = struct.pack("<H", 5) + v4[2:48]
    return header + struct.pack("<HI", body_type, len(body)) + body + v4[BODY_END_V4:]


def test_v5_tdx10_body(vectors) -> None:
    raw = vectors.read(COCOON)
    v5 = parse_quote(_as_v5(raw, 2))
    assert v5.header.version == 5 and v5.body.body_type == 2
    assert v5.measurements == parse_quote(raw).measurements
    assert v5.body.mr_servicetd is None
    assert v5.signed_bytes == _as_v5(raw, 2)[: 48 + 6 + 584]


def test_v5_tdx15_body_has_extra_fields(vectors) -> None:
    v5 = parse_quote(_as_v5(vectors.read(COCOON), 3))
    assert v5.body.tee_tcb_svn2 == bytes(range(16))
    assert v5.body.mr_servicetd == bytes(range(16, 64))
    assert v5.measurements.image_hash.hex().startswith("04b3afd9")


def test_v5_wrong_body_size_rejected(vectors) -> None:
    raw = bytearray(_as_v5(vectors.read(COCOON), 2))
    struct.pack_into("<I", raw, 50, 600)
    with pytest.raises(DecodeError, match="body_size at offset"):
        parse_quote(bytes(raw))


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "field"),
    [
        (0, "<H", 3, "version"),
        (0, "<H", 6, "version"),
        (2, "<H", 3, "att_key_type"),
        (4, "<I", 0, "tee_type"),
        (BODY_END_V4 + 4 + 128, "<H", 5, "cert_data_type"),
    ],
)
def test_bad_values_rejected_naming_field(vectors, offset: int, fmt: str, value: int, field: str) -> None:
    raw = bytearray(vectors.read(COCOON))
    struct.pack_into(fmt, raw, offset, value)
    with pytest.raises(DecodeError, match=f"{field} at offset {offset}"):
        parse_quote(bytes(raw))


def test_zero_padding_accepted_nonzero_rejected(vectors) -> None:
    raw = vectors.read(COCOON)
    assert parse_quote(raw[:4940]).used_size == 4940
    assert parse_quote(raw + bytes(100)).used_size == 4940
    with pytest.raises(DecodeError, match="padding at offset 5000"):
        parse_quote(raw[:5000] + b"\x01" + raw[5001:])


def test_oversized_quote_rejected(vectors) -> None:
    raw = vectors.read(COCOON)
    parse_quote(raw + bytes(MAX_QUOTE_SIZE - len(raw)))  # exactly at the limit is fine
    with pytest.raises(DecodeError, match="exceeds the 32768-byte limit"):
        parse_quote(raw + bytes(MAX_QUOTE_SIZE - len(raw) + 1))


def test_every_truncation_raises_decode_error(vectors) -> None:
    raw = vectors.read(COCOON)
    for n in range(4940):
        with pytest.raises(DecodeError):
            parse_quote(raw[:n])


def test_inflated_length_field_rejected(vectors) -> None:
    raw = bytearray(vectors.read(COCOON))
    struct.pack_into("<I", raw, BODY_END_V4, 0xFFFFFFFF)
    with pytest.raises(DecodeError, match="signature data at offset 636: declares 4294967295 bytes"):
        parse_quote(bytes(raw))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_corruption_never_escapes_decode_error(vectors, data: st.DataObject) -> None:
    raw = bytearray(vectors.read(COCOON))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):  # parsing may succeed (e.g. a flipped measurement byte)
        parse_quote(bytes(raw))


def test_describe_v5_tdx15(vectors) -> None:
    rows = dict(describe_quote(parse_quote(_as_v5(vectors.read(COCOON), 3))))
    assert rows["quote"].startswith("TDX v5 (TDX 1.5 body)")
    assert rows["mr_servicetd"] == bytes(range(16, 64)).hex()
    assert rows["image hash"].startswith("04b3afd9") and rows["debug TD"] == "no"
