"""The request envelope of `cocoon-e2e/1`: sealing, the worker's checks in the spec's order (each
with its own code), the layout the spec gives (``h``, wrap info, body keys), padding and hashing."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from cocoon.e2e import kdf
from cocoon.e2e.envelope import (
    E2E_VERSION,
    ISSUE_WINDOW_S,
    Envelope,
    Routing,
    SealedRequest,
    header_hash,
    open_request,
    read_header,
    seal_request,
)
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.padding import REQUEST_BUCKET, pad_request, pad_to, unpad_request
from cocoon.e2e.replay import ReplayCache
from cocoon.e2e.suite import SUITE, open_base
from cocoon.errors import E2EError

NOW = 1_750_000_000
BODY = b'{"model":"m","messages":[{"role":"user","content":"hello"}],"n":2}'
ROUTING = Routing(
    client_request_id="00000000000000ab",
    model="m",
    endpoint="/v1/chat/completions",
    max_tokens=512,
    n=2,
    max_coefficient=1500,
)
TAG = 16


def _source(seed: int) -> Callable[[int], bytes]:
    """A reproducible byte source (for key pairs)."""
    return random.Random(seed).randbytes


def _worker(seed: int) -> Keyring:
    keyring = Keyring(_source(seed))
    keyring.rotate(not_after=NOW + 3600)
    return keyring


def _keys(*keyrings: Keyring) -> list[tuple[bytes, bytes]]:
    keys = []
    for keyring in keyrings:
        assert keyring.current is not None
        keys.append((keyring.current.key_id, keyring.current.public_key))
    return keys


def _seal(
    *keyrings: Keyring, body: bytes = BODY, routing: Routing = ROUTING, issued_at: int = NOW
) -> SealedRequest:
    return seal_request(body, routing, _keys(*keyrings), issued_at=issued_at, random_bytes=os.urandom)


def _cache() -> ReplayCache:
    return ReplayCache(keep_s=2 * ISSUE_WINDOW_S)


def _refused(
    envelope: Envelope,
    keyring: Keyring,
    *,
    routing: Routing = ROUTING,
    replay: ReplayCache | None = None,
    now: float = NOW,
) -> str:
    """The code `open_request` refuses ``envelope`` with (fails the test if it opens)."""
    with pytest.raises(E2EError) as caught:
        open_request(envelope, routing, keyring, replay if replay is not None else _cache(), now)
    return caught.value.code


def _with_header(sealed: SealedRequest, **changes: object) -> Envelope:
    """The envelope with its header re-encoded with ``changes`` (wraps and ciphertext unchanged)."""
    header = msgspec.structs.replace(sealed.header, **changes)
    return Envelope(msgspec.msgpack.encode(header), sealed.envelope.wraps, sealed.envelope.ciphertext)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- round trips ------------------------------------------------------------------------------------


def test_seal_open_round_trip() -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    opened = open_request(sealed.envelope, ROUTING, worker, _cache(), NOW)
    assert opened.body == BODY
    assert opened.header == sealed.header
    assert opened.header.routing == ROUTING
    assert worker.current is not None
    assert opened.key_id == worker.current.key_id
    assert opened.secret == sealed.secret
    assert BODY not in sealed.envelope.ciphertext
    assert BODY not in msgspec.msgpack.encode(sealed.envelope)


def test_each_listed_worker_opens_its_own_wrap() -> None:
    workers = [_worker(seed) for seed in (1, 2, 3)]
    sealed = _seal(*workers)
    assert len(sealed.envelope.wraps) == 3
    assert sealed.header.key_ids == tuple(key_id for key_id, _ in _keys(*workers))
    for worker in workers:
        opened = open_request(sealed.envelope, ROUTING, worker, _cache(), NOW)
        assert opened.body == BODY
        assert worker.current is not None
        assert opened.key_id == worker.current.key_id
        assert opened.secret == sealed.secret


@pytest.mark.parametrize("count", [0, 4])
def test_seal_takes_one_to_three_keys(count: int) -> None:
    workers = [_worker(seed) for seed in range(count)]
    with pytest.raises(E2EError) as caught:
        _seal(*workers)
    assert caught.value.code == "e2e_no_candidates"


def test_header_is_the_spec_msgpack_array() -> None:
    """``hdr = msgpack[v=1, suite, client_request_id, model, endpoint, max_tokens, n,
    max_coefficient, issued_at, nonce, [key ids]]``."""
    worker = _worker(1)
    sealed = seal_request(BODY, ROUTING, _keys(worker), issued_at=NOW, random_bytes=lambda n: bytes(range(n)))
    assert worker.current is not None
    assert msgspec.msgpack.decode(sealed.envelope.header) == [
        1,
        SUITE,
        "00000000000000ab",
        "m",
        "/v1/chat/completions",
        512,
        2,
        1500,
        NOW,
        bytes(range(16)),
        [worker.current.key_id],
    ]
    assert read_header(sealed.envelope) == sealed.header
    assert sealed.header.v == E2E_VERSION == 1


def test_layout_follows_the_spec() -> None:
    """``h``, the wrap's ``info``, ``k_req``/``n_req`` and the padded body, recomputed from the spec."""
    worker = _worker(1)
    sealed = _seal(worker)
    h = hashlib.sha256(b"cocoon-e2e/1 hdr" + sealed.envelope.header).digest()
    assert header_hash(sealed.envelope.header) == h == sealed.secret.h
    assert worker.current is not None
    info = b"cocoon-e2e/1 wrap" + worker.current.key_id + h
    rs = open_base(worker.current, info, sealed.envelope.wraps[0])
    assert rs == sealed.secret.rs
    assert len(rs) == 32
    prk = kdf.extract(h, rs)
    k_req, n_req = kdf.expand(prk, b"req key", 32), kdf.expand(prk, b"req nonce", 12)
    assert ChaCha20Poly1305(k_req).decrypt(n_req, sealed.envelope.ciphertext, h) == pad_request(BODY)


def test_fresh_secret_and_nonce_per_seal() -> None:
    worker = _worker(1)
    first, second = _seal(worker), _seal(worker)
    assert first.secret.rs != second.secret.rs
    assert first.header.nonce != second.header.nonce
    assert first.envelope.ciphertext != second.envelope.ciphertext


def test_rs_and_nonce_come_from_the_given_source() -> None:
    """Randomness is passed in: the nonce then ``rs`` are drawn from ``random_bytes``."""
    worker = _worker(1)
    source = _source(99)
    sealed = seal_request(BODY, ROUTING, _keys(worker), issued_at=NOW, random_bytes=source)
    again = _source(99)
    assert sealed.header.nonce == again(16)
    assert sealed.secret.rs == again(32)


# --- the worker's checks, each with its code --------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"v": 2}, id="version"),
        pytest.param({"suite": bytes.fromhex("002000010001")}, id="suite-aes"),
        pytest.param({"suite": b""}, id="suite-empty"),
    ],
)
def test_unsupported_version_or_suite(changes: dict[str, object]) -> None:
    worker = _worker(1)
    assert _refused(_with_header(_seal(worker), **changes), worker) == "e2e_unsupported"


def test_key_not_ours_is_unknown() -> None:
    sealed = _seal(_worker(1), _worker(2))
    assert _refused(sealed.envelope, _worker(3)) == "e2e_key_unknown"


def test_empty_keyring_knows_no_key() -> None:
    assert _refused(_seal(_worker(1)).envelope, Keyring(os.urandom)) == "e2e_key_unknown"


ALTERED_ROUTING: dict[str, Any] = {
    "client_request_id": "00000000000000ac",
    "model": "m2",
    "endpoint": "/v1/completions",
    "max_tokens": 513,
    "n": 1,
    "max_coefficient": 1501,
}


def test_every_routing_field_is_covered() -> None:
    assert set(ALTERED_ROUTING) == {field.name for field in msgspec.structs.fields(Routing)}


@pytest.mark.parametrize("field", sorted(ALTERED_ROUTING))
def test_each_altered_routing_field_is_a_header_mismatch(field: str) -> None:
    """The proxy acted on a routing field that differs from the sealed header."""
    worker = _worker(1)
    routing = msgspec.structs.replace(ROUTING, **{field: ALTERED_ROUTING[field]})
    assert _refused(_seal(worker).envelope, worker, routing=routing) == "e2e_header_mismatch"


@pytest.mark.parametrize("field", sorted(ALTERED_ROUTING))
def test_header_altered_to_match_altered_routing_does_not_open(field: str) -> None:
    """A proxy that alters a routing field in both the header and the RunQuery changes ``h``: the
    wrap (whose info holds ``h``) no longer opens."""
    worker = _worker(1)
    sealed = _seal(worker)
    routing = msgspec.structs.replace(ROUTING, **{field: ALTERED_ROUTING[field]})
    envelope = _with_header(sealed, **{field: ALTERED_ROUTING[field]})
    assert read_header(envelope).routing == routing
    assert _refused(envelope, worker, routing=routing) == "e2e_open_failed"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"issued_at": NOW - 1}, id="issued_at"),
        pytest.param({"nonce": bytes(16)}, id="nonce"),
    ],
)
def test_other_header_bytes_altered_do_not_open(changes: dict[str, object]) -> None:
    worker = _worker(1)
    assert _refused(_with_header(_seal(worker), **changes), worker) == "e2e_open_failed"


def test_swapped_key_ids_do_not_open() -> None:
    """Reordering the listed key ids points each worker at another worker's wrap (and changes h)."""
    first, second = _worker(1), _worker(2)
    sealed = _seal(first, second)
    envelope = _with_header(sealed, key_ids=tuple(reversed(sealed.header.key_ids)))
    assert _refused(envelope, first) == "e2e_open_failed"
    assert _refused(envelope, second) == "e2e_open_failed"


def test_swapped_wraps_do_not_open() -> None:
    first, second = _worker(1), _worker(2)
    sealed = _seal(first, second)
    envelope = Envelope(
        sealed.envelope.header, tuple(reversed(sealed.envelope.wraps)), sealed.envelope.ciphertext
    )
    assert _refused(envelope, first) == "e2e_open_failed"


@pytest.mark.parametrize("offset", [-ISSUE_WINDOW_S, ISSUE_WINDOW_S, 0, -1, 1])
def test_issued_at_within_the_window_opens(offset: int) -> None:
    worker = _worker(1)
    sealed = _seal(worker, issued_at=NOW + offset)
    assert open_request(sealed.envelope, ROUTING, worker, _cache(), NOW).body == BODY


@pytest.mark.parametrize("offset", [-ISSUE_WINDOW_S - 1, ISSUE_WINDOW_S + 1, -3600, 3600])
def test_issued_at_outside_the_window_is_stale(offset: int) -> None:
    worker = _worker(1)
    assert _refused(_seal(worker, issued_at=NOW + offset).envelope, worker) == "e2e_stale"


def test_window_is_checked_against_fractional_now() -> None:
    worker = _worker(1)
    sealed = _seal(worker, issued_at=NOW)
    assert _refused(sealed.envelope, worker, now=NOW + ISSUE_WINDOW_S + 0.5) == "e2e_stale"
    assert open_request(sealed.envelope, ROUTING, worker, _cache(), NOW + ISSUE_WINDOW_S - 0.5).body == BODY


def test_same_envelope_twice_is_a_replay() -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    cache = _cache()
    assert open_request(sealed.envelope, ROUTING, worker, cache, NOW).body == BODY
    assert _refused(sealed.envelope, worker, replay=cache, now=NOW + 1) == "e2e_replay"
    # Another worker (its own cache) still serves it: the proxy's retry on another listed candidate.
    other = _worker(2)
    both = _seal(worker, other)
    open_request(both.envelope, ROUTING, worker, cache, NOW)
    assert open_request(both.envelope, ROUTING, other, _cache(), NOW).body == BODY


def test_tampered_wrap_does_not_open() -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    for index in (0, 40, len(sealed.envelope.wraps[0]) - 1):
        wraps = (_flip(sealed.envelope.wraps[0], index),)
        envelope = Envelope(sealed.envelope.header, wraps, sealed.envelope.ciphertext)
        assert _refused(envelope, worker) == "e2e_open_failed"


def test_wrap_of_another_envelope_does_not_open() -> None:
    """A wrap moved from another envelope (other ``h``) to this one does not open."""
    worker = _worker(1)
    sealed, other = _seal(worker), _seal(worker)
    envelope = Envelope(sealed.envelope.header, other.envelope.wraps, sealed.envelope.ciphertext)
    assert _refused(envelope, worker) == "e2e_open_failed"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda ct: _flip(ct, 0), id="first-byte"),
        pytest.param(lambda ct: _flip(ct, len(ct) - 1), id="tag"),
        pytest.param(lambda ct: ct[:-1], id="truncated"),
        pytest.param(lambda ct: ct + b"\x00", id="extended"),
        pytest.param(lambda ct: b"", id="empty"),
    ],
)
def test_tampered_ciphertext_does_not_open(mangle: Callable[[bytes], bytes]) -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    envelope = Envelope(sealed.envelope.header, sealed.envelope.wraps, mangle(sealed.envelope.ciphertext))
    assert _refused(envelope, worker) == "e2e_open_failed"


def test_ciphertext_of_another_envelope_does_not_open() -> None:
    worker = _worker(1)
    sealed, other = _seal(worker), _seal(worker)
    envelope = Envelope(sealed.envelope.header, sealed.envelope.wraps, other.envelope.ciphertext)
    assert _refused(envelope, worker) == "e2e_open_failed"


def test_bad_padding_inside_a_valid_seal_does_not_open() -> None:
    """A body sealed with the right keys but a wrong length prefix is still refused (after the AEAD)."""
    worker = _worker(1)
    sealed = _seal(worker)
    prk = kdf.extract(sealed.secret.h, sealed.secret.rs)
    k_req, n_req = kdf.expand(prk, b"req key", 32), kdf.expand(prk, b"req nonce", 12)
    padded = bytearray(pad_request(BODY))
    padded[:4] = (len(padded)).to_bytes(4, "big")
    forged = ChaCha20Poly1305(k_req).encrypt(n_req, bytes(padded), sealed.secret.h)
    envelope = Envelope(sealed.envelope.header, sealed.envelope.wraps, forged)
    assert _refused(envelope, worker) == "e2e_open_failed"


@pytest.mark.parametrize("wraps", [0, 2, 3])
def test_wrong_number_of_wraps_is_a_bad_envelope(wraps: int) -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    envelope = Envelope(sealed.envelope.header, sealed.envelope.wraps * wraps, sealed.envelope.ciphertext)
    assert _refused(envelope, worker) == "e2e_bad_envelope"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="not-msgpack"),
        pytest.param(msgspec.msgpack.encode([1, SUITE]), id="short"),
        pytest.param(msgspec.msgpack.encode({"v": 1}), id="map"),
    ],
)
def test_undecodable_header_is_a_bad_envelope(header: bytes) -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    envelope = Envelope(header, sealed.envelope.wraps, sealed.envelope.ciphertext)
    assert _refused(envelope, worker) == "e2e_bad_envelope"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"nonce": bytes(15)}, id="short-nonce"),
        pytest.param({"key_ids": ()}, id="no-key-ids"),
        pytest.param({"key_ids": (bytes(8),) * 4}, id="four-key-ids"),
        pytest.param({"key_ids": (bytes(7),)}, id="short-key-id"),
        pytest.param({"max_tokens": -1}, id="negative-max-tokens"),
        pytest.param({"n": -1}, id="negative-n"),
    ],
)
def test_out_of_bounds_header_is_a_bad_envelope(changes: dict[str, object]) -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    header = msgspec.structs.replace(sealed.header, **changes)
    wraps = sealed.envelope.wraps[:1] * len(header.key_ids)
    envelope = Envelope(msgspec.msgpack.encode(header), wraps, sealed.envelope.ciphertext)
    assert _refused(envelope, worker) == "e2e_bad_envelope"


# --- the order of the checks ------------------------------------------------------------------------


def test_version_is_checked_before_the_key() -> None:
    sealed = _seal(_worker(1))
    assert _refused(_with_header(sealed, v=2), _worker(2)) == "e2e_unsupported"


def test_key_is_checked_before_the_routing() -> None:
    sealed = _seal(_worker(1))
    routing = msgspec.structs.replace(ROUTING, model="other")
    assert _refused(sealed.envelope, _worker(2), routing=routing) == "e2e_key_unknown"


def test_routing_is_checked_before_the_window() -> None:
    worker = _worker(1)
    routing = msgspec.structs.replace(ROUTING, n=1)
    assert _refused(_seal(worker).envelope, worker, routing=routing, now=NOW + 3600) == "e2e_header_mismatch"


def test_window_is_checked_before_the_replay_cache() -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    cache = _cache()
    open_request(sealed.envelope, ROUTING, worker, cache, NOW)
    assert _refused(sealed.envelope, worker, replay=cache, now=NOW + ISSUE_WINDOW_S + 1) == "e2e_stale"


def test_replay_is_checked_before_the_seal() -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    cache = _cache()
    open_request(sealed.envelope, ROUTING, worker, cache, NOW)
    tampered = Envelope(sealed.envelope.header, sealed.envelope.wraps, _flip(sealed.envelope.ciphertext, 3))
    assert _refused(tampered, worker, replay=cache) == "e2e_replay"


def test_refusals_before_the_replay_check_do_not_use_up_the_envelope() -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    cache = _cache()
    routing = msgspec.structs.replace(ROUTING, n=9)
    assert _refused(sealed.envelope, worker, routing=routing, replay=cache) == "e2e_header_mismatch"
    assert _refused(sealed.envelope, worker, replay=cache, now=NOW + 500) == "e2e_stale"
    assert len(cache) == 0
    assert open_request(sealed.envelope, ROUTING, worker, cache, NOW).body == BODY


def test_the_replay_entry_is_taken_before_the_seal_is_opened() -> None:
    """In the spec's order the cache records ``(key id, nonce)`` before HPKE and AEAD: an altered copy
    that fails to open still uses the nonce up (the client re-seals with a fresh one on any error)."""
    worker = _worker(1)
    sealed = _seal(worker)
    cache = _cache()
    tampered = Envelope(sealed.envelope.header, sealed.envelope.wraps, _flip(sealed.envelope.ciphertext, 3))
    assert _refused(tampered, worker, replay=cache) == "e2e_open_failed"
    assert _refused(sealed.envelope, worker, replay=cache) == "e2e_replay"


# --- key rotation -----------------------------------------------------------------------------------


def test_previous_key_opens_after_one_rotation_not_two() -> None:
    worker = _worker(1)
    sealed = _seal(worker)
    assert worker.current is not None
    sealed_to = worker.current.key_id
    worker.rotate(not_after=NOW + 7200)
    opened = open_request(sealed.envelope, ROUTING, worker, _cache(), NOW)
    assert opened.body == BODY
    assert opened.key_id == sealed_to
    assert worker.previous is not None
    assert worker.previous.key_id == sealed_to
    worker.rotate(not_after=NOW + 10800)
    assert _refused(sealed.envelope, worker) == "e2e_key_unknown"


def test_a_rotated_worker_opens_with_the_first_listed_key_it_holds() -> None:
    worker = _worker(1)
    old = _seal(worker)
    worker.rotate(not_after=NOW + 7200)
    assert worker.current is not None and worker.previous is not None
    # Sealed to the previous then the current key of the same worker: it opens with wrap 0.
    keys = [
        (worker.previous.key_id, worker.previous.public_key),
        (worker.current.key_id, worker.current.public_key),
    ]
    sealed = seal_request(BODY, ROUTING, keys, issued_at=NOW, random_bytes=os.urandom)
    assert open_request(sealed.envelope, ROUTING, worker, _cache(), NOW).key_id == worker.previous.key_id
    assert open_request(old.envelope, ROUTING, worker, _cache(), NOW).body == BODY


# --- hashing ----------------------------------------------------------------------------------------


def test_envelope_sha256_is_stable_and_covers_every_part() -> None:
    worker = _worker(1)
    envelope = _seal(worker).envelope
    digest = envelope.sha256()
    assert digest == hashlib.sha256(msgspec.msgpack.encode(envelope)).digest()
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(envelope), type=Envelope)
    assert decoded == envelope
    assert decoded.sha256() == digest
    assert Envelope(envelope.header, envelope.wraps, envelope.ciphertext).sha256() == digest
    altered = [
        Envelope(_flip(envelope.header, 5), envelope.wraps, envelope.ciphertext),
        Envelope(envelope.header, (_flip(envelope.wraps[0], 5),), envelope.ciphertext),
        Envelope(envelope.header, envelope.wraps, _flip(envelope.ciphertext, 5)),
    ]
    assert len({digest, *(other.sha256() for other in altered)}) == 4


def test_envelope_decode_bounds_the_wraps() -> None:
    encoded = msgspec.msgpack.encode([b"h", [b"w"] * 4, b"c"])
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(encoded, type=Envelope)


# --- padding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "buckets"), [(0, 1), (1, 1), (252, 1), (253, 2), (508, 2), (509, 3), (10_000, 40)]
)
def test_sealed_body_is_padded_to_256_byte_buckets(size: int, buckets: int) -> None:
    worker = _worker(1)
    sealed = _seal(worker, body=b"x" * size)
    assert len(sealed.envelope.ciphertext) == buckets * REQUEST_BUCKET + TAG
    assert open_request(sealed.envelope, ROUTING, worker, _cache(), NOW).body == b"x" * size


def test_sizes_within_a_bucket_are_hidden() -> None:
    worker = _worker(1)
    lengths = {len(_seal(worker, body=b"y" * size).envelope.ciphertext) for size in (0, 1, 17, 100, 252)}
    assert lengths == {REQUEST_BUCKET + TAG}


def test_pad_request_layout() -> None:
    padded = pad_request(b"abc")
    assert padded == b"\x00\x00\x00\x03abc" + bytes(REQUEST_BUCKET - 7)
    assert unpad_request(padded) == b"abc"


@pytest.mark.parametrize(
    "padded",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\x00\x00", id="shorter-than-prefix"),
        pytest.param((253).to_bytes(4, "big") + bytes(252), id="length-past-the-end"),
        pytest.param((0xFFFFFFFF).to_bytes(4, "big") + bytes(252), id="huge-length"),
        pytest.param(b"\x00\x00\x00\x03abc" + bytes(248) + b"\x01", id="nonzero-padding"),
        pytest.param(b"\x00\x00\x00\x02abc" + bytes(249), id="short-length"),
    ],
)
def test_unpad_refuses_a_wrong_prefix_or_padding(padded: bytes) -> None:
    with pytest.raises(E2EError) as caught:
        unpad_request(padded)
    assert caught.value.code == "e2e_open_failed"


def test_unpad_accepts_an_exact_fit() -> None:
    assert unpad_request((3).to_bytes(4, "big") + b"abc") == b"abc"
    assert unpad_request(bytes(4)) == b""


@given(st.binary(max_size=2000))
def test_pad_request_round_trips_in_the_smallest_bucket(body: bytes) -> None:
    padded = pad_request(body)
    assert len(padded) % REQUEST_BUCKET == 0
    assert REQUEST_BUCKET <= len(padded) < len(body) + 4 + REQUEST_BUCKET
    assert unpad_request(padded) == body


@given(st.binary(max_size=600), st.sampled_from([1, 16, 64, 256]))
def test_pad_to_is_the_next_bucket(data: bytes, bucket: int) -> None:
    padded = pad_to(data, bucket)
    assert padded[: len(data)] == data
    assert not any(padded[len(data) :])
    assert len(padded) % bucket == 0
    assert len(padded) == max(bucket, len(data) + (-len(data)) % bucket)
