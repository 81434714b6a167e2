"""Response frames of `cocoon-e2e/1`: the worker seals each part of its answer, the client opens them
in order, and both (and the proxy, over the ciphertext) hash them for the receipt (spec/e2e.md).

Keys: ``prk_r = HKDF-Extract(h ‖ rn, rs)``, ``k_resp`` and the base nonce ``nb`` expanded from it;
``rn`` is the worker's fresh 32 bytes, sent in plaintext in the answer's head. Frame ``i`` is sealed
with the nonce ``nb XOR i`` (96-bit big-endian counter) and the AAD of its type, so a dropped,
repeated, reordered or spliced frame does not open. On the wire a frame is its type byte (the proxy
sees it, as it sees the head's status class) followed by the ciphertext of ``pad64(u16 length ‖
payload)``. The first frame is `FrameType.HEAD`, the last is always `FrameType.FINAL`: an answer
without it is never complete.

The same ``prk_r`` keys the tag a worker puts on the answer's v2 receipt (`_AnswerKeys.receipt_tag`,
see `cocoon.attestation.receipt_e2e`): the client checks that tag instead of the receipt's signature.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterator

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from cocoon.e2e import kdf
from cocoon.e2e.envelope import RequestSecret
from cocoon.e2e.padding import FRAME_BUCKET
from cocoon.errors import E2EError

MAX_FRAME_PAYLOAD = 0xFFFF
"""Largest payload of one frame (its length is a u16); longer data is split over several frames."""
NONCE_SIZE = 32
"""Size of ``rn``, the worker's per-answer nonce."""
RECEIPT_TAG_INFO = b"receipt tag"
"""The HKDF-Expand info of the key that tags the answer's receipt (`_AnswerKeys.receipt_tag`)."""


class FrameType(enum.IntEnum):
    """What a frame carries; its name is the frame's AAD."""

    HEAD = 1
    """The engine's status and content type: msgpack ``[status, content_type]``."""
    DATA = 2
    """Answer bytes (SSE events, or a slice of a whole body)."""
    ERROR = 3
    """An error body (JSON) from the worker or its engine."""
    FINAL = 4
    """The end of the answer (an optional trailer); nothing follows it."""

    @property
    def aad(self) -> bytes:
        return self.name.lower().encode()


class _Head(msgspec.Struct, frozen=True, array_like=True):
    status: int
    content_type: str


# Per-kind constants looked up once per frame instead of rebuilt from the enum: a streamed answer
# seals (and its client opens) one frame per engine event.
_KINDS: dict[int, FrameType] = {int(kind): kind for kind in FrameType}
_AAD: dict[FrameType, bytes] = {kind: kind.aad for kind in FrameType}
_TYPE_BYTE: dict[FrameType, bytes] = {kind: bytes([kind]) for kind in FrameType}
_FINAL = int(FrameType.FINAL)
_ZEROS = bytes(FRAME_BUCKET)
_head_encoder = msgspec.msgpack.Encoder()
_head_decoder = msgspec.msgpack.Decoder(_Head)


class FrameLog:
    """The frames of one answer as sent or relayed: SHA-256 over each frame's u32 length and bytes,
    the count, and whether the last was final (what receipts v2 sign)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0
        self.final = False

    def add(self, frame: bytes) -> None:
        update = self._hash.update
        update(len(frame).to_bytes(4, "big"))
        update(frame)
        self.count += 1
        self.final = bool(frame) and frame[0] == _FINAL

    def digest(self) -> bytes:
        return self._hash.digest()


class _AnswerKeys:
    """What both ends of one answer derive from ``prk_r``: the frame key and base nonce, the receipt
    tag key; and the frames so far (their counter and log)."""

    def __init__(self, secret: RequestSecret, rn: bytes) -> None:
        if len(rn) != NONCE_SIZE:
            raise E2EError(
                "e2e_frame_invalid", f"the answer's e2e nonce must be {NONCE_SIZE} bytes, not {len(rn)}"
            )
        self._prk = kdf.extract(secret.h + rn, secret.rs)
        self._aead = ChaCha20Poly1305(kdf.expand(self._prk, b"resp key", 32))
        self._base = int.from_bytes(kdf.expand(self._prk, b"resp nonce", 12), "big")
        self._next = 0
        self.log = FrameLog()

    @property
    def finished(self) -> bool:
        return self.log.final

    def receipt_tag(self, covered: bytes) -> bytes:
        """The end-to-end tag of a receipt (`SignedE2EReceipt.tagged_bytes` is what it covers):
        HMAC-SHA256 under ``HKDF-Expand(prk_r, "receipt tag", 32)``. Only the worker and the client
        know ``prk_r``, so a tag that matches says the worker sent exactly these bytes, as the frames'
        AEAD says it of the frames."""
        return kdf.hmac_sha256(kdf.expand(self._prk, RECEIPT_TAG_INFO, 32), covered)


class FrameSealer(_AnswerKeys):
    """The worker's side: seals the frames of one answer in order and logs them."""

    def _seal(self, kind: FrameType, payload: bytes) -> bytes:
        if self.log.final:
            raise E2EError("e2e_frame_invalid", "no frame may follow the final frame")
        nonce = (self._base ^ self._next).to_bytes(12, "big")
        self._next += 1
        size = len(payload)
        # pad64(u16 length ‖ payload) in one copy: never empty, so the zeros only round it up.
        plain = b"".join((size.to_bytes(2, "big"), payload, _ZEROS[: -(size + 2) % FRAME_BUCKET]))
        frame = _TYPE_BYTE[kind] + self._aead.encrypt(nonce, plain, _AAD[kind])
        self.log.add(frame)
        return frame

    def head(self, status: int, content_type: str) -> bytes:
        return self._seal(FrameType.HEAD, _head_encoder.encode(_Head(status, content_type)))

    def data(self, payload: bytes) -> Iterator[bytes]:
        """One frame per `MAX_FRAME_PAYLOAD` bytes of ``payload`` (none for empty data), each sealed
        as it is taken."""
        return self._split(FrameType.DATA, payload)

    def data_frame(self, payload: bytes) -> bytes:
        """The one frame of ``payload`` (1 to `MAX_FRAME_PAYLOAD` bytes: a streamed event), the same
        frame `data` would yield, without its generator."""
        if not 0 < len(payload) <= MAX_FRAME_PAYLOAD:
            raise E2EError("e2e_frame_invalid", f"one data frame carries 1 to {MAX_FRAME_PAYLOAD} bytes")
        return self._seal(FrameType.DATA, payload)

    def error(self, body: bytes) -> Iterator[bytes]:
        return self._split(FrameType.ERROR, body)

    def final(self, trailer: bytes = b"") -> bytes:
        return self._seal(FrameType.FINAL, trailer)

    def _split(self, kind: FrameType, payload: bytes) -> Iterator[bytes]:
        for start in range(0, len(payload), MAX_FRAME_PAYLOAD):
            yield self._seal(kind, payload[start : start + MAX_FRAME_PAYLOAD])


class OpenedFrame(msgspec.Struct, frozen=True):
    """A frame the client opened."""

    kind: FrameType
    payload: bytes


class FrameOpener(_AnswerKeys):
    """The client's side: opens one answer's frames in order; any frame out of place raises
    `E2EError` (``e2e_frame_invalid``)."""

    def __init__(self, secret: RequestSecret, rn: bytes) -> None:
        super().__init__(secret, rn)
        self.status = 0
        self.content_type = ""

    def open(self, frame: bytes) -> OpenedFrame:
        if self.log.final:
            raise E2EError("e2e_frame_invalid", "a frame arrived after the final frame")
        kind = _KINDS.get(frame[0]) if frame else None
        if kind is None:
            raise E2EError("e2e_frame_invalid", "a response frame has no known type")
        if (kind is FrameType.HEAD) != (self._next == 0):
            raise E2EError("e2e_frame_invalid", "the head frame must come first, and only once")
        nonce = (self._base ^ self._next).to_bytes(12, "big")
        try:
            plain = self._aead.decrypt(nonce, frame[1:], _AAD[kind])
        except InvalidTag as exc:
            raise E2EError(
                "e2e_frame_invalid",
                f"response frame {self._next} does not open: altered, dropped or reordered",
            ) from exc
        size = int.from_bytes(plain[:2], "big")
        end = 2 + size
        # The padding must be all zeros: counted in C rather than tested byte by byte.
        if len(plain) < end or plain.count(0, end) != len(plain) - end:
            raise E2EError("e2e_frame_invalid", f"response frame {self._next} has a wrong length or padding")
        self._next += 1
        self.log.add(frame)
        payload = plain[2:end]
        if kind is FrameType.HEAD:
            try:
                head = _head_decoder.decode(payload)
            except msgspec.DecodeError as exc:
                raise E2EError("e2e_frame_invalid", f"the head frame does not decode: {exc}") from exc
            if not 100 <= head.status <= 599:
                raise E2EError("e2e_frame_invalid", f"the head frame's status {head.status} is not HTTP")
            self.status, self.content_type = head.status, head.content_type
        return OpenedFrame(kind, payload)
