"""Property tests: random objects round-trip; random, truncated and corrupted bytes raise only
TLDecodeError from every decoder (frames, typed and generic codec, PoW, .tlo reader)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tl_reference import reference_file
from tl_samples import any_object, generic_sample

from cocoon.tl import pow
from cocoon.tl.base import TLObject
from cocoon.tl.codec import decode, encode
from cocoon.tl.errors import TLDecodeError
from cocoon.tl.frames import FrameDecoder
from cocoon.tl.generic import decode_generic, encode_generic
from cocoon.tl.schema import Schema, parse_schema
from cocoon.tl.tlo import read_tlo
from cocoon.tl.types import ALL_TYPES

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IDS = st.sampled_from([cls.TL_ID for cls in ALL_TYPES]).map(lambda i: i.to_bytes(4, "little"))
# Bytes that start with a known id, so the fuzzing reaches the field decoders.
TL_BYTES = st.one_of(st.binary(max_size=200), st.tuples(IDS, st.binary(max_size=200)).map(b"".join))

_REFERENCE: list[Schema] = []


def reference_schema() -> Schema:
    if not _REFERENCE:
        _REFERENCE.append(parse_schema(reference_file("cocoon_api.tl").read_text(encoding="utf-8")))
    return _REFERENCE[0]


def decodes_or_refuses(data: bytes) -> None:
    for decoder in (decode, decode_generic, lambda d: decode_generic(d, reference_schema())):
        with contextlib.suppress(TLDecodeError):
            decoder(data)


@FAST
@given(any_object())
def test_random_objects_round_trip(obj: TLObject) -> None:
    data = encode(obj)
    assert len(data) % 4 == 0
    assert decode(data) == obj
    assert encode_generic(decode_generic(data)) == data


@FAST
@given(TL_BYTES)
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    decodes_or_refuses(data)


@FAST
@given(any_object(), st.data())
def test_truncated_and_corrupted_encodings_raise_only_decode_error(
    obj: TLObject, data: st.DataObject
) -> None:
    encoded = encode(obj)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    decodes_or_refuses(encoded[:cut])
    pos = data.draw(st.integers(0, len(encoded) - 1))
    corrupted = bytearray(encoded)
    corrupted[pos] = data.draw(st.integers(0, 255))
    decodes_or_refuses(bytes(corrupted))
    decodes_or_refuses(encoded + data.draw(st.binary(min_size=1, max_size=8)))


@FAST
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_frame_decoder_raises_only_decode_error(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    try:
        for chunk in chunks:
            for body in decoder.feed(chunk):
                assert len(body) >= 4
    except TLDecodeError:
        pass


@FAST
@given(st.binary(max_size=40))
def test_pow_decoders_raise_only_decode_error(data: bytes) -> None:
    for decoder in (pow.decode_challenge, pow.decode_answer):
        with contextlib.suppress(TLDecodeError):
            decoder(data)


@FAST
@given(st.data())
def test_tlo_reader_raises_only_decode_error(data: st.DataObject) -> None:
    tlo = reference_file("cocoon_api.tlo").read_bytes()
    cut = data.draw(st.integers(0, len(tlo) - 1))
    pos = data.draw(st.integers(0, len(tlo) - 1))
    corrupted = bytearray(tlo)
    corrupted[pos] ^= data.draw(st.integers(1, 255))
    for blob in (tlo[:cut], bytes(corrupted)):
        with contextlib.suppress(TLDecodeError):
            read_tlo(blob)


@pytest.mark.parametrize("optional", [True, False])
def test_every_reference_combinator_round_trips_through_the_generic_codec(optional: bool) -> None:
    schema = reference_schema()
    combinators = schema.constructors + schema.functions
    assert len(combinators) > 100
    for comb in combinators:
        value = generic_sample(schema, comb, 5, optional)
        data = encode_generic(value, schema)
        decoded = decode_generic(data, schema)
        assert decoded.name == comb.name
        flagless = {k: v for k, v in decoded.fields.items() if k not in value.fields}
        assert all(isinstance(v, int) for v in flagless.values())  # only the flags fields are added
        assert encode_generic(decoded, schema) == data
        with pytest.raises(TLDecodeError):
            decode_generic(data[:-1], schema)


@FAST
@given(st.data())
def test_random_bodies_of_any_reference_constructor_raise_only_decode_error(data: st.DataObject) -> None:
    schema = reference_schema()
    comb = data.draw(st.sampled_from(schema.constructors + schema.functions))
    body = data.draw(st.binary(max_size=300))
    with contextlib.suppress(TLDecodeError):
        decode_generic(comb.id.to_bytes(4, "little") + body, schema)
