"""What a client keeps of one end-to-end encrypted answer to prove it later, offline (pure).

A v2 receipt (`cocoon.attestation.receipt_e2e`) signs hashes of ciphertext: the envelope and the
response frames. `Evidence` is those bytes plus the two values that open them, the request secret
``rs`` and the worker's nonce ``rn``; `open_evidence` checks the bytes against a receipt and opens
them, so a third party given the files sees that the worker signed exactly this request and this
answer. ``rs`` opens only this one request: keeping it next to the plaintext reveals nothing more.
"""

from __future__ import annotations

import msgspec

from cocoon.attestation.receipt_e2e import E2EReceipt
from cocoon.e2e.envelope import Envelope, RequestSecret, header_hash, open_body
from cocoon.e2e.frames import FrameLog, FrameOpener, FrameType
from cocoon.errors import E2EError, ReceiptError


class Evidence(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """An answer's ciphertext as sent and received, with what opens it."""

    envelope: Envelope
    rs: bytes
    rn: bytes
    frames: tuple[bytes, ...]

    def encode(self) -> bytes:
        return msgspec.msgpack.encode(self)

    @classmethod
    def decode(cls, data: bytes) -> Evidence:
        """`ReceiptError` when ``data`` is not evidence."""
        try:
            return msgspec.msgpack.decode(data, type=cls)
        except msgspec.DecodeError as exc:
            raise ReceiptError(f"the end-to-end evidence does not decode: {exc}") from exc


def open_evidence(receipt: E2EReceipt, evidence: Evidence) -> tuple[bytes, bytes]:
    """Check ``evidence`` against a (verified) receipt and open it: (request body, response bytes).

    The response bytes are the payloads of the data and error frames in order (the engine's answer, or
    its error body, as the app got it before the client added cost fields). `ReceiptError` says what
    does not match.
    """
    envelope = evidence.envelope
    if envelope.sha256() != receipt.envelope_sha256:
        raise ReceiptError("the envelope does not hash to the receipt's envelope_sha256")
    h = header_hash(envelope.header)
    if h != receipt.header_sha256:
        raise ReceiptError("the envelope's header does not hash to the receipt's header_sha256")
    log = FrameLog()
    for frame in evidence.frames:
        log.add(frame)
    if (log.digest(), log.count, log.final) != (receipt.frames_sha256, receipt.frame_count, receipt.final):
        raise ReceiptError("the frames are not the ones the receipt signs (hash, count or final flag)")
    secret = RequestSecret(h, evidence.rs)
    try:
        body = open_body(envelope, secret)
        opener = FrameOpener(secret, evidence.rn)
        response = b"".join(
            opened.payload
            for opened in (opener.open(frame) for frame in evidence.frames)
            if opened.kind in (FrameType.DATA, FrameType.ERROR)
        )
    except E2EError as exc:
        raise ReceiptError(f"the evidence does not open with its secret: {exc.message}") from exc
    return body, response
