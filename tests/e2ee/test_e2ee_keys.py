"""A worker's HPKE keyring (current and previous key) and its replay cache (time passed in)."""

from __future__ import annotations

import random

from cocoon.e2e.keyring import Keyring
from cocoon.e2e.replay import ReplayCache
from cocoon.e2e.suite import HpkeKeyPair, key_id

KEY_A, KEY_B = b"A" * 8, b"B" * 8
T0 = 1_750_000_000.0


def _nonce(i: int) -> bytes:
    return i.to_bytes(16, "big")


# --- keyring ----------------------------------------------------------------------------------------


def test_empty_keyring() -> None:
    keyring = Keyring(random.Random(1).randbytes)
    assert keyring.current is None and keyring.previous is None
    assert keyring.key_ids() == ()
    assert keyring.find(bytes(8)) is None


def test_rotate_keeps_the_previous_key_for_one_period() -> None:
    keyring = Keyring(random.Random(1).randbytes)
    first = keyring.rotate(not_after=100)
    assert keyring.current is first and keyring.previous is None
    assert keyring.key_ids() == (first.key_id,)
    assert keyring.find(first.key_id) is first

    second = keyring.rotate(not_after=200)
    assert keyring.current is second and keyring.previous is first
    assert keyring.key_ids() == (second.key_id, first.key_id)
    assert keyring.find(first.key_id) is first
    assert keyring.find(second.key_id) is second

    third = keyring.rotate(not_after=300)
    assert keyring.key_ids() == (third.key_id, second.key_id)
    assert keyring.find(first.key_id) is None
    assert keyring.find(second.key_id) is second
    assert len({first.key_id, second.key_id, third.key_id}) == 3
    assert (first.not_after, second.not_after, third.not_after) == (100, 200, 300)


def test_keys_come_from_the_given_source() -> None:
    pairs = [Keyring(random.Random(7).randbytes).rotate(not_after=1) for _ in range(2)]
    assert pairs[0].public_key == pairs[1].public_key
    expected = HpkeKeyPair.generate(random.Random(7).randbytes, not_after=1)
    assert pairs[0].key_id == expected.key_id == key_id(expected.public_key)
    assert Keyring(random.Random(8).randbytes).rotate(not_after=1).key_id != expected.key_id


def test_find_ignores_unknown_ids() -> None:
    keyring = Keyring(random.Random(1).randbytes)
    pair = keyring.rotate(not_after=100)
    assert keyring.find(pair.key_id[:-1] + bytes([pair.key_id[-1] ^ 1])) is None
    assert keyring.find(pair.public_key) is None
    assert keyring.find(b"") is None


# --- replay cache -----------------------------------------------------------------------------------


def test_second_time_is_refused() -> None:
    cache = ReplayCache(keep_s=240)
    assert cache.first_time(KEY_A, _nonce(1), T0)
    assert not cache.first_time(KEY_A, _nonce(1), T0 + 1)
    assert not cache.first_time(KEY_A, _nonce(1), T0)
    assert len(cache) == 1


def test_key_id_and_nonce_together_name_an_envelope() -> None:
    cache = ReplayCache(keep_s=240)
    assert cache.first_time(KEY_A, _nonce(1), T0)
    assert cache.first_time(KEY_B, _nonce(1), T0)
    assert cache.first_time(KEY_A, _nonce(2), T0)
    assert len(cache) == 3


def test_entries_expire_after_keep_s() -> None:
    cache = ReplayCache(keep_s=240)
    cache.first_time(KEY_A, _nonce(1), T0)
    cache.first_time(KEY_A, _nonce(2), T0 + 100)
    assert not cache.first_time(KEY_A, _nonce(1), T0 + 240)  # exactly keep_s: still kept
    assert cache.first_time(KEY_A, _nonce(3), T0 + 240.5)  # nonce 1 expires here
    assert len(cache) == 2
    assert cache.first_time(KEY_A, _nonce(1), T0 + 241)  # forgotten: the window refuses it instead
    assert not cache.first_time(KEY_A, _nonce(2), T0 + 340)
    assert cache.first_time(KEY_A, _nonce(2), T0 + 341)


def test_a_refused_replay_does_not_extend_the_entry() -> None:
    cache = ReplayCache(keep_s=240)
    cache.first_time(KEY_A, _nonce(1), T0)
    assert not cache.first_time(KEY_A, _nonce(1), T0 + 200)
    assert cache.first_time(KEY_A, _nonce(1), T0 + 241)


def test_expiry_frees_the_memory() -> None:
    cache = ReplayCache(keep_s=10)
    for i in range(100):
        cache.first_time(KEY_A, _nonce(i), T0 + i * 0.01)
    assert len(cache) == 100
    cache.first_time(KEY_B, _nonce(0), T0 + 100)
    assert len(cache) == 1


def test_capacity_bounds_the_cache_oldest_first() -> None:
    cache = ReplayCache(keep_s=240, capacity=3)
    for i in range(5):
        assert cache.first_time(KEY_A, _nonce(i), T0 + i)
        assert len(cache) <= 3
    assert len(cache) == 3
    # The newest three are still refused ...
    for i in (2, 3, 4):
        assert not cache.first_time(KEY_A, _nonce(i), T0 + 5)
    # ... the two oldest were dropped to stay within capacity.
    assert cache.first_time(KEY_A, _nonce(0), T0 + 5)
    assert len(cache) == 3
    assert cache.first_time(KEY_A, _nonce(1), T0 + 5)
