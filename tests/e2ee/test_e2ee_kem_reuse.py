"""One HPKE encapsulation per worker key for a minute (`cocoon.e2e.kem_reuse`).

What must hold: a wrap sealed with a kept encapsulation is still an RFC 9180 Base-mode ciphertext
(`cryptography`'s HPKE opens it), two wraps never share a key and nonce, the client makes a fresh
encapsulation when the minute is over or the key changes, the worker's remembered secret is the one
X25519 would give, and both stay within their bounds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from cocoon.e2e import kem_reuse
from cocoon.e2e.envelope import ISSUE_WINDOW_S, Routing, open_request, seal_request
from cocoon.e2e.kem_reuse import REUSE_S, DecapsulationCache, ReusedEncapsulations
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache
from cocoon.e2e.suite import (
    ENC_SIZE,
    HpkeKeyPair,
    decapsulate,
    encapsulate,
    open_base,
    seal_base,
    seal_to,
)
from cocoon.errors import E2EError

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
NOW = 1_800_000_000
ROUTING = Routing("req-1", "m", "/v1/chat/completions", 64, 1, 1000)


def _pair() -> HpkeKeyPair:
    return HpkeKeyPair.generate(os.urandom, not_after=NOW + 3600)


def _counted_randomness() -> tuple[list[int], ReusedEncapsulations]:
    drawn: list[int] = []

    def random_bytes(size: int) -> bytes:
        drawn.append(size)
        return os.urandom(size)

    return drawn, ReusedEncapsulations(random_bytes)


@pytest.fixture
def decapsulations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The ``enc`` of every X25519 the worker's cache really computes."""
    computed: list[bytes] = []

    def counting(pair: HpkeKeyPair, enc: bytes) -> bytes:
        computed.append(enc)
        return decapsulate(pair, enc)

    monkeypatch.setattr(kem_reuse, "decapsulate", counting)
    yield computed


# --- the suite's parts --------------------------------------------------------------------------------


def test_seal_base_is_seal_to_a_fresh_encapsulation() -> None:
    pair, ephemeral = _pair(), os.urandom(32)
    assert seal_base(pair.public_key, b"info", b"pt", random_bytes=lambda _: ephemeral) == seal_to(
        encapsulate(pair.public_key, ephemeral), b"info", b"pt"
    )


def test_wraps_of_one_encapsulation_are_rfc9180_ciphertexts_with_their_own_keys() -> None:
    """Two wraps with one kept encapsulation share ``enc`` only: an independent HPKE opens each with its
    own ``info`` and not with the other's, and their ciphertexts of the same plaintext differ."""
    pair = _pair()
    private = X25519PrivateKey.from_private_bytes(pair.private_key)
    kept = encapsulate(pair.public_key, os.urandom(32))
    one, two = seal_to(kept, b"info one", b"same secret"), seal_to(kept, b"info two", b"same secret")
    assert one[:ENC_SIZE] == two[:ENC_SIZE] == kept.enc
    assert one[ENC_SIZE:] != two[ENC_SIZE:]
    assert SUITE.decrypt(one, private, info=b"info one") == b"same secret"
    assert SUITE.decrypt(two, private, info=b"info two") == b"same secret"
    assert open_base(pair, b"info two", two) == b"same secret"
    with pytest.raises(InvalidTag):
        SUITE.decrypt(one, private, info=b"info two")


def test_an_encapsulation_does_not_show_its_secret() -> None:
    kept = encapsulate(_pair().public_key, os.urandom(32))
    assert repr(kept.secret) not in repr(kept) and repr(kept.enc) in repr(kept)


# --- the client's kept encapsulations -----------------------------------------------------------------


def test_the_client_keeps_one_encapsulation_per_key_for_a_minute() -> None:
    drawn, kept = _counted_randomness()
    first, second = _pair(), _pair()
    made = kept.to(first.public_key, 100.0)
    assert kept.to(first.public_key, 100.0 + REUSE_S - 0.001) is made
    assert kept.to(second.public_key, 101.0) is not made  # another key: its own
    assert drawn == [32, 32]
    renewed = kept.to(first.public_key, 100.0 + REUSE_S)
    assert renewed.enc != made.enc and drawn == [32, 32, 32]
    assert kept.to(first.public_key, 100.0 + REUSE_S + 1) is renewed  # kept from its own making
    assert len(kept) == 2


def test_encapsulations_past_their_minute_are_dropped_at_the_next_one_made() -> None:
    _, kept = _counted_randomness()
    old, newer, latest = _pair(), _pair(), _pair()
    kept.to(old.public_key, 0.0)
    kept.to(newer.public_key, 30.0)
    kept.to(latest.public_key, REUSE_S + 1)  # old's minute is over: it goes; newer's is not
    assert len(kept) == 2
    kept.to(latest.public_key, REUSE_S + 2)  # kept: nothing is made, nothing dropped
    assert len(kept) == 2
    kept.to(old.public_key, 2 * REUSE_S + 31)  # made again; newer's and latest's minutes are over
    assert len(kept) == 1


def test_a_clock_that_went_back_gets_a_fresh_encapsulation() -> None:
    _, kept = _counted_randomness()
    pair = _pair()
    made = kept.to(pair.public_key, 100.0)
    assert kept.to(pair.public_key, 99.0) is not made


def test_the_client_keeps_at_most_max_keys_the_oldest_made_going_first() -> None:
    kept = ReusedEncapsulations(os.urandom, max_keys=2)
    a, b, c = _pair(), _pair(), _pair()
    made_a = kept.to(a.public_key, 0.0)
    kept.to(b.public_key, 1.0)
    kept.to(a.public_key, REUSE_S + 2)  # a made again: b is now the oldest
    assert kept.to(a.public_key, REUSE_S + 3) is not made_a
    kept.to(c.public_key, REUSE_S + 4)
    assert len(kept) == 2
    made_b = kept.to(b.public_key, REUSE_S + 5)  # b was dropped: made afresh, which drops a
    assert len(kept) == 2 and kept.to(c.public_key, REUSE_S + 6) is not made_b


@pytest.mark.parametrize("public_key", [bytes(32), bytes(31)], ids=["small-order", "short"])
def test_a_key_that_takes_no_seal_is_refused_and_not_kept(public_key: bytes) -> None:
    _, kept = _counted_randomness()
    with pytest.raises(E2EError) as caught:
        kept.to(public_key, 0.0)
    assert caught.value.code == "e2e_bad_key" and len(kept) == 0


# --- the worker's remembered secrets ------------------------------------------------------------------


def test_the_worker_computes_each_encapsulation_once(decapsulations: list[bytes]) -> None:
    pair, cache = _pair(), DecapsulationCache()
    kept = encapsulate(pair.public_key, os.urandom(32))
    for info in (b"one", b"two", b"three"):
        assert open_base(pair, info, seal_to(kept, info, b"rs"), secret_of=cache.secret) == b"rs"
    assert decapsulations == [kept.enc] and cache.secret(pair, kept.enc) == kept.secret


def test_a_remembered_secret_is_per_key(decapsulations: list[bytes]) -> None:
    """The same ``enc`` sent to the worker's other key is that key's secret, computed for it."""
    one, other, cache = _pair(), _pair(), DecapsulationCache()
    enc = encapsulate(one.public_key, os.urandom(32)).enc
    assert cache.secret(one, enc) == decapsulate(one, enc)
    assert cache.secret(other, enc) == decapsulate(other, enc) != cache.secret(one, enc)
    assert len(decapsulations) == 2


def test_a_small_order_enc_is_refused_every_time_and_not_remembered() -> None:
    pair, cache = _pair(), DecapsulationCache()
    for _ in range(2):
        with pytest.raises(E2EError) as caught:
            open_base(pair, b"info", bytes(32) + bytes(17), secret_of=cache.secret)
        assert caught.value.code == "e2e_open_failed"
    assert len(cache) == 0


def test_the_worker_remembers_at_most_max_secrets_the_oldest_going_first(
    decapsulations: list[bytes],
) -> None:
    pair, cache = _pair(), DecapsulationCache(max_secrets=2)
    a, b, c = (encapsulate(pair.public_key, os.urandom(32)).enc for _ in range(3))
    for enc in (a, b, c, c, b):
        cache.secret(pair, enc)
    assert len(cache) == 2 and decapsulations == [a, b, c]
    cache.secret(pair, a)  # gone: computed again
    assert decapsulations == [a, b, c, a]


def test_a_rotated_out_key_takes_its_secrets_with_it() -> None:
    keyring = Keyring(os.urandom)
    first = keyring.rotate(NOW + 3600)
    enc = encapsulate(first.public_key, os.urandom(32)).enc
    keyring.decapsulations.secret(first, enc)
    keyring.rotate(NOW + 7200)  # first is the previous key: still opens, still remembered
    assert len(keyring.decapsulations) == 1
    keyring.rotate(NOW + 10800)
    assert len(keyring.decapsulations) == 0


# --- whole envelopes ---------------------------------------------------------------------------------


def test_envelopes_sealed_with_kept_encapsulations_open_once_each() -> None:
    """Two requests sealed within the minute share each worker's ``enc`` and nothing else; each
    worker opens both, and a replay of either is still refused."""
    workers = [Keyring(os.urandom) for _ in range(2)]
    keys = [(pair.key_id, pair.public_key) for pair in (w.rotate(NOW + 3600) for w in workers)]
    kept = ReusedEncapsulations(os.urandom)
    sealed = [
        seal_request(
            b'{"model": "m"}',
            ROUTING,
            keys,
            issued_at=NOW,
            random_bytes=os.urandom,
            encapsulation_to=lambda public_key: kept.to(public_key, 5.0),
        )
        for _ in range(2)
    ]
    one, two = (s.envelope for s in sealed)
    for index in range(2):
        assert one.wraps[index][:ENC_SIZE] == two.wraps[index][:ENC_SIZE]
        assert one.wraps[index][ENC_SIZE:] != two.wraps[index][ENC_SIZE:]
    assert one.wraps[0][:ENC_SIZE] != one.wraps[1][:ENC_SIZE]
    assert sealed[0].secret.rs != sealed[1].secret.rs and one.ciphertext != two.ciphertext
    for worker in workers:
        replay = ReplayCache(keep_s=2 * ISSUE_WINDOW_S)
        for envelope, seal in zip((one, two), sealed, strict=True):
            opened = open_request(envelope, ROUTING, worker, replay, NOW)
            assert opened.body == b'{"model": "m"}' and opened.secret == seal.secret
        with pytest.raises(E2EError) as caught:
            open_request(two, ROUTING, worker, replay, NOW)
        assert caught.value.code == "e2e_replay"
        assert len(worker.decapsulations) == 1
