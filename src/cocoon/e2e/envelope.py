"""The request envelope of `cocoon-e2e/1`: a plaintext routing header, one HPKE wrap of the request
secret per candidate worker key, and the sealed OpenAI body (spec/e2e.md, "Request envelope").

The header is what the proxy may read: who asks (the request ids), the model, the endpoint, the
completion budget (``max_tokens``: the whole budget of the request, every choice included), ``n``,
the price ceiling, when it was sealed, a random nonce and the key ids it is sealed to. Its hash ``h``
is the AAD of the body and part of every wrap's ``info``, so a proxy that alters any field makes the
envelope unopenable; the worker also compares it with the routing fields the proxy acted on.

`open_request` runs the worker's checks in the spec's order and raises `E2EError` with a generic code
at the first that fails; nothing in a refusal depends on the sealed content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from cocoon.e2e import kdf
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.padding import pad_request, unpad_request
from cocoon.e2e.replay import ReplayCache
from cocoon.e2e.suite import (
    KEY_ID_SIZE,
    KEY_SIZE,
    SUITE,
    Encapsulation,
    HpkeKeyPair,
    encapsulate,
    open_base,
    seal_to,
)
from cocoon.errors import E2EError

E2E_VERSION = 1
MAX_CANDIDATES = 3
"""Keys one envelope may be sealed to (K ≤ 3)."""
ISSUE_WINDOW_S = 120
"""How far ``issued_at`` may be from the worker's clock, either way."""
NONCE_SIZE = 16
SECRET_SIZE = 32

_HDR_DOMAIN = b"cocoon-e2e/1 hdr"
_WRAP_INFO = b"cocoon-e2e/1 wrap"

_Bytes16 = Annotated[bytes, msgspec.Meta(min_length=NONCE_SIZE, max_length=NONCE_SIZE)]
_KeyId = Annotated[bytes, msgspec.Meta(min_length=KEY_ID_SIZE, max_length=KEY_ID_SIZE)]
_Count = Annotated[int, msgspec.Meta(ge=0)]


class Routing(msgspec.Struct, frozen=True):
    """The routing fields a proxy acts on; the header carries them and the worker checks they agree."""

    client_request_id: str
    model: str
    endpoint: str
    """The OpenAI path (``/v1/chat/completions``...)."""
    max_tokens: int
    """The request's whole completion budget (every choice), as the proxy reserves for it."""
    n: int
    """Choices the body asks for (the worker checks the body says the same)."""
    max_coefficient: int


class Header(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """The plaintext, authenticated header (msgpack array, in the spec's field order)."""

    v: int
    suite: bytes
    client_request_id: str
    model: str
    endpoint: str
    max_tokens: _Count
    n: _Count
    max_coefficient: _Count
    issued_at: int
    nonce: _Bytes16
    key_ids: Annotated[tuple[_KeyId, ...], msgspec.Meta(min_length=1, max_length=MAX_CANDIDATES)]

    @property
    def routing(self) -> Routing:
        return Routing(
            self.client_request_id, self.model, self.endpoint, self.max_tokens, self.n, self.max_coefficient
        )


class Envelope(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """What `RunQuery.e2e` carries: the header bytes (exactly as hashed), one wrap per header key id
    in the same order, and the sealed body."""

    header: bytes
    wraps: Annotated[tuple[bytes, ...], msgspec.Meta(max_length=MAX_CANDIDATES)]
    ciphertext: bytes

    def sha256(self) -> bytes:
        """SHA-256 of the envelope's canonical msgpack form, as receipts v2 name it."""
        return hashlib.sha256(msgspec.msgpack.encode(self)).digest()


def header_hash(header: bytes) -> bytes:
    """``h = SHA-256("cocoon-e2e/1 hdr" ‖ hdr)``."""
    return hashlib.sha256(_HDR_DOMAIN + header).digest()


def read_header(envelope: Envelope) -> Header:
    """The envelope's header, decoded and bounded; `E2EError` (``e2e_bad_envelope``) if it is not one."""
    try:
        header = msgspec.msgpack.decode(envelope.header, type=Header)
    except msgspec.DecodeError as exc:
        raise E2EError("e2e_bad_envelope", f"the e2e header does not decode: {exc}") from exc
    if len(envelope.wraps) != len(header.key_ids):
        raise E2EError("e2e_bad_envelope", "the e2e envelope does not carry one wrap per listed key id")
    return header


class RequestSecret(msgspec.Struct, frozen=True):
    """What both ends of one request know after sealing/opening: ``h`` and the request secret ``rs``."""

    h: bytes
    rs: bytes


class SealedRequest(msgspec.Struct, frozen=True):
    """A sealed request: the envelope to send and the secret to open its answer with."""

    envelope: Envelope
    header: Header
    secret: RequestSecret


def _body_keys(h: bytes, rs: bytes) -> tuple[bytes, bytes]:
    prk = kdf.extract(h, rs)
    return kdf.expand(prk, b"req key", 32), kdf.expand(prk, b"req nonce", 12)


def seal_request(
    body: bytes,
    routing: Routing,
    keys: Sequence[tuple[bytes, bytes]],
    *,
    issued_at: int,
    random_bytes: Callable[[int], bytes],
    encapsulation_to: Callable[[bytes], Encapsulation] | None = None,
) -> SealedRequest:
    """Seal ``body`` (already validated) to up to three ``(key id, public key)`` pairs.

    ``encapsulation_to``: a worker public key's encapsulation (`cocoon.e2e.kem_reuse`); by default
    a fresh one per wrap from ``random_bytes``."""

    def fresh(public_key: bytes) -> Encapsulation:
        return encapsulate(public_key, random_bytes(KEY_SIZE))

    to = encapsulation_to or fresh
    if not 1 <= len(keys) <= MAX_CANDIDATES:
        raise E2EError(
            "e2e_no_candidates", f"an envelope is sealed to 1 to {MAX_CANDIDATES} keys, not {len(keys)}"
        )
    header = Header(
        v=E2E_VERSION,
        suite=SUITE,
        client_request_id=routing.client_request_id,
        model=routing.model,
        endpoint=routing.endpoint,
        max_tokens=routing.max_tokens,
        n=routing.n,
        max_coefficient=routing.max_coefficient,
        issued_at=issued_at,
        nonce=random_bytes(NONCE_SIZE),
        key_ids=tuple(key_id for key_id, _ in keys),
    )
    raw = msgspec.msgpack.encode(header)
    h = header_hash(raw)
    rs = random_bytes(SECRET_SIZE)
    wraps = tuple(seal_to(to(public_key), _WRAP_INFO + key_id + h, rs) for key_id, public_key in keys)
    k_req, n_req = _body_keys(h, rs)
    ciphertext = ChaCha20Poly1305(k_req).encrypt(n_req, pad_request(body), h)
    return SealedRequest(Envelope(raw, wraps, ciphertext), header, RequestSecret(h, rs))


class OpenedRequest(msgspec.Struct, frozen=True):
    """An envelope a worker opened: the body, the header, the key it was opened with and the secret."""

    body: bytes
    header: Header
    key_id: bytes
    secret: RequestSecret


def open_request(
    envelope: Envelope,
    routing: Routing,
    keyring: Keyring,
    replay: ReplayCache,
    now: float,
    *,
    header: Header | None = None,
) -> OpenedRequest:
    """The worker's checks, in order; the first that fails raises `E2EError` with its generic code.

    version and suite → one of our key ids is listed → ``routing`` (what the proxy acted on) equals the
    header → ``issued_at`` within the window → not seen before → HPKE open → AEAD open. ``header``:
    `read_header` of this very envelope, when the caller already read it (not decoded again).
    """
    if header is None:
        header = read_header(envelope)
    if header.v != E2E_VERSION or header.suite != SUITE:
        raise E2EError(
            "e2e_unsupported", f"e2e version {header.v} or suite {header.suite.hex()} is not served here"
        )
    index, pair = _our_key(header, keyring)
    if header.routing != routing:
        raise E2EError("e2e_header_mismatch", "the routing fields differ from the e2e header")
    if abs(now - header.issued_at) > ISSUE_WINDOW_S:
        raise E2EError("e2e_stale", f"the envelope was sealed more than {ISSUE_WINDOW_S} s from now")
    if not replay.first_time(pair.key_id, header.nonce, now):
        raise E2EError("e2e_replay", "this envelope was already served")
    h = header_hash(envelope.header)
    rs = open_base(
        pair, _WRAP_INFO + pair.key_id + h, envelope.wraps[index], secret_of=keyring.decapsulations.secret
    )
    secret = RequestSecret(h, rs)
    return OpenedRequest(open_body(envelope, secret), header, pair.key_id, secret)


def open_body(envelope: Envelope, secret: RequestSecret) -> bytes:
    """The request body sealed in ``envelope``, opened with its request secret (the worker after the
    key wrap; anyone the client gave the secret to, e.g. to check a receipt offline)."""
    k_req, n_req = _body_keys(secret.h, secret.rs)
    try:
        padded = ChaCha20Poly1305(k_req).decrypt(n_req, envelope.ciphertext, secret.h)
    except InvalidTag as exc:
        raise E2EError("e2e_open_failed", "the sealed request does not open") from exc
    return unpad_request(padded)


def _our_key(header: Header, keyring: Keyring) -> tuple[int, HpkeKeyPair]:
    for index, listed in enumerate(header.key_ids):
        pair = keyring.find(listed)
        if pair is not None:
            return index, pair
    raise E2EError(
        "e2e_key_unknown", "the envelope is not sealed to a key this worker holds; refresh and resend"
    )
