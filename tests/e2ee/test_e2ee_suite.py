"""The HPKE suite of `cocoon-e2e/1` against RFC 9180's published test vectors, and key ids.

The vectors are RFC 9180 Appendix A.1.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, Base
mode) and A.2.1 (the same KEM and KDF with ChaCha20Poly1305, Base mode, our suite), copied from the
RFC's text: the recipient key pair, ``info``, the ephemeral key, the key schedule's outputs, and the
first encryption (sequence number 0). Their first encryption has the AAD ``"Count-0"``, which the
single-shot API of `cocoon.e2e.suite` never uses, so the vectors are checked three ways:

- `cryptography`'s HPKE (an independent implementation) opens them with that AAD;
- a small reference implementation of RFC 9180 Base mode written here from the RFC's pseudocode, on
  top of `cocoon.e2e.kdf`, reproduces every intermediate value they list and opens them too;
- that reference then opens what our `seal_base` seals and seals what our `open_base` opens, with
  the vector's keys, which pins our wrap to RFC 9180 Base mode with ChaCha20Poly1305; with the
  vector's ephemeral key as its randomness, `seal_base` gives the vector's ``enc`` and the reference's
  bytes exactly.

`cryptography`'s single-shot HPKE also opens what `seal_base` seals, and `open_base` what it seals.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from cocoon.e2e import kdf
from cocoon.e2e.suite import KEY_ID_SIZE, SUITE, HpkeKeyPair, key_id, open_base, seal_base
from cocoon.errors import E2EError


@dataclass(frozen=True)
class Vector:
    """One RFC 9180 Appendix A Base-mode vector and its first encryption (sequence number 0)."""

    name: str
    aead_id: int
    info: bytes
    sk_em: bytes
    sk_rm: bytes
    pk_rm: bytes
    enc: bytes
    shared_secret: bytes
    key_schedule_context: bytes
    secret: bytes
    key: bytes
    base_nonce: bytes
    pt: bytes
    aad: bytes
    ct: bytes


_INFO = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")  # "Ode on a Grecian Urn"
_PT = bytes.fromhex("4265617574792069732074727574682c20747275746820626561757479")
_AAD0 = bytes.fromhex("436f756e742d30")  # "Count-0"

A_1_1 = Vector(
    name="A.1.1",
    aead_id=0x0001,
    info=_INFO,
    sk_em=bytes.fromhex("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736"),
    sk_rm=bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"),
    pk_rm=bytes.fromhex("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d"),
    enc=bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"),
    shared_secret=bytes.fromhex("fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"),
    key_schedule_context=bytes.fromhex(
        "00725611c9d98c07c03f60095cd32d400d8347d45ed670"
        "97bbad50fc56da742d07cb6cffde367bb0565ba28bb02c90744a20f5ef37f3052352"
        "6106f637abb05449"
    ),
    secret=bytes.fromhex("12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397"),
    key=bytes.fromhex("4531685d41d65f03dc48f6b8302c05b0"),
    base_nonce=bytes.fromhex("56d890e5accaaf011cff4b7d"),
    pt=_PT,
    aad=_AAD0,
    ct=bytes.fromhex(
        "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
    ),
)
"""RFC 9180 A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, Base mode."""

A_2_1 = Vector(
    name="A.2.1",
    aead_id=0x0003,
    info=_INFO,
    sk_em=bytes.fromhex("f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600"),
    sk_rm=bytes.fromhex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb"),
    pk_rm=bytes.fromhex("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a"),
    enc=bytes.fromhex("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a"),
    shared_secret=bytes.fromhex("0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7"),
    key_schedule_context=bytes.fromhex(
        "00431df6cd95e11ff49d7013563baf7f11588c75a6611e"
        "e2a4404a49306ae4cfc5b69c5718a60cc5876c358d3f7fc31ddb598503f67be58ea1"
        "e798c0bb19eb9796"
    ),
    secret=bytes.fromhex("5b9cd775e64b437a2335cf499361b2e0d5e444d5cb41a8a53336d8fe402282c6"),
    key=bytes.fromhex("ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91"),
    base_nonce=bytes.fromhex("5c4d98150661b848853b547f"),
    pt=_PT,
    aad=_AAD0,
    ct=bytes.fromhex(
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"
    ),
)
"""RFC 9180 A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, Base mode (our suite)."""

VECTORS = [pytest.param(A_1_1, id="A.1.1"), pytest.param(A_2_1, id="A.2.1")]

_AEADS = {0x0001: hpke.AEAD.AES_128_GCM, 0x0003: hpke.AEAD.CHACHA20_POLY1305}
_KEM_X25519 = 0x0020
_KDF_SHA256 = 0x0001


def _raw_public(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- RFC 9180 Base mode, from the RFC's pseudocode (sections 4, 4.1 and 5.1) -----------------------


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return kdf.extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return kdf.expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info, length)


def _dhkem_shared_secret(dh: bytes, enc: bytes, pk_rm: bytes) -> bytes:
    """DHKEM(X25519, HKDF-SHA256) ExtractAndExpand over ``kem_context = enc ‖ pkRm``."""
    kem_suite = b"KEM" + _KEM_X25519.to_bytes(2, "big")
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    return _labeled_expand(kem_suite, eae_prk, b"shared_secret", enc + pk_rm, 32)


@dataclass(frozen=True)
class _Schedule:
    key_schedule_context: bytes
    secret: bytes
    key: bytes
    base_nonce: bytes


def _key_schedule_base(aead_id: int, shared_secret: bytes, info: bytes) -> _Schedule:
    suite_id = b"HPKE" + b"".join(i.to_bytes(2, "big") for i in (_KEM_X25519, _KDF_SHA256, aead_id))
    psk_id_hash = _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite_id, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash  # mode_base = 0
    secret = _labeled_extract(suite_id, shared_secret, b"secret", b"")  # default psk = ""
    key_size = {0x0001: 16, 0x0003: 32}[aead_id]
    key = _labeled_expand(suite_id, secret, b"key", context, key_size)
    base_nonce = _labeled_expand(suite_id, secret, b"base_nonce", context, 12)
    return _Schedule(context, secret, key, base_nonce)


def _aead(aead_id: int, key: bytes) -> AESGCM | ChaCha20Poly1305:
    return AESGCM(key) if aead_id == 0x0001 else ChaCha20Poly1305(key)


def _reference_open(aead_id: int, sk_r: X25519PrivateKey, info: bytes, sealed: bytes, aad: bytes) -> bytes:
    """RFC 9180 SetupBaseR + Open at sequence number 0 (nonce = base_nonce)."""
    enc, ct = sealed[:32], sealed[32:]
    shared = _dhkem_shared_secret(
        sk_r.exchange(X25519PublicKey.from_public_bytes(enc)), enc, _raw_public(sk_r)
    )
    schedule = _key_schedule_base(aead_id, shared, info)
    return _aead(aead_id, schedule.key).decrypt(schedule.base_nonce, ct, aad)


def _reference_seal(
    aead_id: int, sk_e: X25519PrivateKey, pk_r: bytes, info: bytes, pt: bytes, aad: bytes
) -> bytes:
    """RFC 9180 SetupBaseS with a given ephemeral key + Seal at sequence number 0: ``enc ‖ ct``."""
    enc = _raw_public(sk_e)
    shared = _dhkem_shared_secret(sk_e.exchange(X25519PublicKey.from_public_bytes(pk_r)), enc, pk_r)
    schedule = _key_schedule_base(aead_id, shared, info)
    return enc + _aead(aead_id, schedule.key).encrypt(schedule.base_nonce, pt, aad)


# --- the vectors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS)
def test_vector_key_pairs_match(vector: Vector) -> None:
    """pk(skRm) = pkRm and pk(skEm) = enc, as the RFC lists them."""
    assert _raw_public(X25519PrivateKey.from_private_bytes(vector.sk_rm)) == vector.pk_rm
    assert _raw_public(X25519PrivateKey.from_private_bytes(vector.sk_em)) == vector.enc


@pytest.mark.parametrize("vector", VECTORS)
def test_cryptography_hpke_opens_the_vector(vector: Vector) -> None:
    """The library our suite calls opens the RFC's first encryption with its ``info`` and AAD."""
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, _AEADS[vector.aead_id])
    sk_r = X25519PrivateKey.from_private_bytes(vector.sk_rm)
    opened = rust_openssl.hpke._decrypt_with_aad(
        suite, vector.enc + vector.ct, sk_r, info=vector.info, aad=vector.aad
    )
    assert opened == vector.pt
    with pytest.raises(InvalidTag):  # another AAD must not open
        rust_openssl.hpke._decrypt_with_aad(suite, vector.enc + vector.ct, sk_r, info=vector.info, aad=b"")


@pytest.mark.parametrize("vector", VECTORS)
def test_reference_reproduces_the_vector(vector: Vector) -> None:
    """The reference implementation (over `cocoon.e2e.kdf`) gives every value the RFC lists."""
    sk_r = X25519PrivateKey.from_private_bytes(vector.sk_rm)
    dh = sk_r.exchange(X25519PublicKey.from_public_bytes(vector.enc))
    shared = _dhkem_shared_secret(dh, vector.enc, vector.pk_rm)
    assert shared == vector.shared_secret
    schedule = _key_schedule_base(vector.aead_id, shared, vector.info)
    assert schedule == _Schedule(vector.key_schedule_context, vector.secret, vector.key, vector.base_nonce)
    assert _reference_open(vector.aead_id, sk_r, vector.info, vector.enc + vector.ct, vector.aad) == vector.pt
    sk_e = X25519PrivateKey.from_private_bytes(vector.sk_em)
    assert (
        _reference_seal(vector.aead_id, sk_e, vector.pk_rm, vector.info, vector.pt, vector.aad)
        == vector.enc + vector.ct
    )


def test_our_suite_is_the_a_2_1_suite() -> None:
    """`SUITE` is A.2.1's kem_id 32, kdf_id 1, aead_id 3 as big-endian u16s."""
    kem_kdf_aead = (32).to_bytes(2, "big") + (1).to_bytes(2, "big") + (3).to_bytes(2, "big")
    assert kem_kdf_aead == SUITE
    assert A_2_1.aead_id == 3


def test_seal_base_is_rfc9180_base_mode_with_chacha() -> None:
    """What `seal_base` seals to A.2.1's recipient opens with the RFC 9180 reference (AAD empty),
    and not under the A.1 suite (AES-128-GCM)."""
    sk_r = X25519PrivateKey.from_private_bytes(A_2_1.sk_rm)
    info = b"cocoon-e2e/1 wrap" + bytes(8) + bytes(32)
    sealed = seal_base(A_2_1.pk_rm, info, b"request secret", random_bytes=os.urandom)
    assert len(sealed) == 32 + len(b"request secret") + 16
    assert _reference_open(0x0003, sk_r, info, sealed, b"") == b"request secret"
    with pytest.raises(InvalidTag):  # the AES-128-GCM tag check refuses it
        _reference_open(0x0001, sk_r, info, sealed, b"")
    with pytest.raises(InvalidTag):  # and so does another info
        _reference_open(0x0003, sk_r, info + b"x", sealed, b"")


def test_open_base_opens_the_reference_seal_with_a_2_1_keys() -> None:
    """`open_base` opens what the RFC 9180 reference seals with A.2.1's ephemeral and recipient keys;
    the sealed bytes start with A.2.1's ``enc``."""
    sk_e = X25519PrivateKey.from_private_bytes(A_2_1.sk_em)
    sealed = _reference_seal(0x0003, sk_e, A_2_1.pk_rm, A_2_1.info, A_2_1.pt, b"")
    assert sealed[:32] == A_2_1.enc
    recipient = HpkeKeyPair.from_private(A_2_1.sk_rm, not_after=1)
    assert open_base(recipient, A_2_1.info, sealed) == A_2_1.pt
    with pytest.raises(E2EError) as caught:
        open_base(recipient, A_2_1.info + b"!", sealed)
    assert caught.value.code == "e2e_open_failed"


def test_seal_base_with_the_vector_ephemeral_is_the_reference_seal() -> None:
    """Given A.2.1's ephemeral private key as its randomness, `seal_base` gives A.2.1's ``enc`` and
    exactly the bytes the RFC 9180 reference seals (the AAD empty, as in every wrap)."""
    sealed = seal_base(A_2_1.pk_rm, A_2_1.info, A_2_1.pt, random_bytes=lambda n: A_2_1.sk_em[:n])
    sk_e = X25519PrivateKey.from_private_bytes(A_2_1.sk_em)
    assert sealed[:32] == A_2_1.enc
    assert sealed == _reference_seal(0x0003, sk_e, A_2_1.pk_rm, A_2_1.info, A_2_1.pt, b"")


def test_cryptography_hpke_and_ours_open_each_others_seals() -> None:
    """An independent HPKE (`cryptography`'s single-shot, empty AAD) opens our wraps, and ours opens
    its wraps."""
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    pair = HpkeKeyPair.generate(os.urandom, not_after=1)
    private = X25519PrivateKey.from_private_bytes(pair.private_key)
    ours = seal_base(pair.public_key, b"info", b"request secret", random_bytes=os.urandom)
    assert suite.decrypt(ours, private, info=b"info") == b"request secret"
    theirs = suite.encrypt(
        b"request secret", X25519PublicKey.from_public_bytes(pair.public_key), info=b"info"
    )
    assert open_base(pair, b"info", theirs) == b"request secret"
    with pytest.raises(InvalidTag):
        suite.decrypt(ours, private, info=b"other info")


def test_small_order_keys_are_refused() -> None:
    """An all-zero X25519 shared secret (RFC 9180 requires the check) is refused on both sides: sealing
    to a small-order public key, and opening a wrap whose ``enc`` is one."""
    with pytest.raises(E2EError) as caught:
        seal_base(bytes(32), b"info", b"x", random_bytes=os.urandom)
    assert caught.value.code == "e2e_bad_key"
    pair = HpkeKeyPair.generate(os.urandom, not_after=1)
    with pytest.raises(E2EError) as opened:
        open_base(pair, b"info", bytes(32) + bytes(17))
    assert opened.value.code == "e2e_open_failed"


@pytest.mark.parametrize("private_key", [b"", bytes(31), bytes(33)], ids=["empty", "31", "33"])
def test_a_private_key_must_be_32_bytes(private_key: bytes) -> None:
    with pytest.raises(E2EError) as caught:
        HpkeKeyPair.from_private(private_key, not_after=1)
    assert caught.value.code == "e2e_bad_key"


def test_seal_and_open_base_round_trip() -> None:
    pair = HpkeKeyPair.generate(lambda n: bytes(range(1, n + 1)), not_after=100)
    sealed = seal_base(pair.public_key, b"info", b"secret bytes", random_bytes=os.urandom)
    assert open_base(pair, b"info", sealed) == b"secret bytes"
    # A fresh ephemeral key every time: the same plaintext never seals to the same bytes.
    assert seal_base(pair.public_key, b"info", b"secret bytes", random_bytes=os.urandom) != sealed


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s[:-1], id="truncated"),
        pytest.param(lambda s: s[:20], id="shorter-than-enc"),
        pytest.param(lambda s: s[:-1] + bytes([s[-1] ^ 1]), id="tag-flipped"),
        pytest.param(lambda s: bytes([s[0] ^ 0x40]) + s[1:], id="enc-flipped"),
        pytest.param(lambda s: s[:32] + bytes([s[32] ^ 1]) + s[33:], id="ciphertext-flipped"),
    ],
)
def test_open_base_refuses_altered_wraps(mangle: Callable[[bytes], bytes]) -> None:
    pair = HpkeKeyPair.generate(lambda n: b"\x07" * n, not_after=100)
    sealed = seal_base(pair.public_key, b"info", b"secret bytes", random_bytes=os.urandom)
    with pytest.raises(E2EError) as caught:
        open_base(pair, b"info", mangle(sealed))
    assert caught.value.code == "e2e_open_failed"


def test_open_base_refuses_another_key() -> None:
    ours = HpkeKeyPair.generate(lambda n: b"\x01" * n, not_after=100)
    other = HpkeKeyPair.generate(lambda n: b"\x02" * n, not_after=100)
    sealed = seal_base(ours.public_key, b"info", b"x", random_bytes=os.urandom)
    with pytest.raises(E2EError) as caught:
        open_base(other, b"info", sealed)
    assert caught.value.code == "e2e_open_failed"


def test_sealing_to_keys_in_turn_keeps_each_wrap_for_its_own_key() -> None:
    """Alternating keys: each wrap opens with the key it was sealed to and with no other."""
    pairs = [HpkeKeyPair.generate(lambda n, b=b: bytes([b]) * n, not_after=100) for b in (3, 4, 5)]
    for public in [p.public_key for p in pairs] * 2:
        sealed = seal_base(public, b"info", b"x", random_bytes=os.urandom)
        for pair in pairs:
            if pair.public_key == public:
                assert open_base(pair, b"info", sealed) == b"x"
            else:
                with pytest.raises(E2EError):
                    open_base(pair, b"info", sealed)


@pytest.mark.parametrize("public_key", [b"", bytes(31), bytes(33)], ids=["empty", "31", "33"])
def test_seal_base_refuses_a_malformed_public_key(public_key: bytes) -> None:
    with pytest.raises(E2EError) as caught:
        seal_base(public_key, b"info", b"x", random_bytes=os.urandom)
    assert caught.value.code == "e2e_bad_key"


@pytest.mark.parametrize("vector", VECTORS)
def test_key_id_is_sha256_of_suite_and_key(vector: Vector) -> None:
    """``key_id = SHA-256(SUITE ‖ pk)[:8]``, here for the vectors' recipient keys."""
    expected = hashlib.sha256(bytes.fromhex("002000010003") + vector.pk_rm).digest()[:8]
    assert key_id(vector.pk_rm) == expected
    assert len(key_id(vector.pk_rm)) == KEY_ID_SIZE == 8
    assert key_id(vector.pk_rm[:-1] + bytes([vector.pk_rm[-1] ^ 1])) != expected


def test_generated_pair_is_consistent() -> None:
    """`HpkeKeyPair.generate` takes its 32 private bytes from the given source and derives the rest."""
    pair = HpkeKeyPair.generate(lambda n: A_2_1.sk_rm[:n], not_after=1234)
    assert pair.public_key == A_2_1.pk_rm
    assert pair.key_id == key_id(A_2_1.pk_rm)
    assert pair.not_after == 1234
    assert pair.private_key == A_2_1.sk_rm
    assert A_2_1.sk_rm.hex() not in repr(pair)  # a log line never shows the private key
