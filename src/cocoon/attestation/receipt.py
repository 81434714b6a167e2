"""Signed answer receipts: a worker's signature, with its attested key, over what it answered (pure).

A receipt names the request (the client's request id, SHA-256 of the request body as the worker
received it) and the answer (SHA-256 of the response bytes as delivered, the model, token counts, the
coefficient). "Response bytes as delivered" are the concatenation of the worker's `AnswerChunk`
payloads in order: for streams, the engine's SSE bytes exactly as relayed; for whole answers, the
engine's JSON body. Proxies relay chunks unchanged, so the client hashes the same bytes it received.

Canonical encoding: the msgpack array of `Receipt` (msgspec encodes a Struct deterministically), signed
as ``RECEIPT_DOMAIN || body``. The JSON form (`to_json`) lists the fields with hashes, signer and
signature in hex; `from_json` rebuilds the Struct, so the same canonical bytes verify offline.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Protocol, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.signed import RECEIPT_DOMAIN, public_key_bytes, sign, verify
from cocoon.errors import ReceiptError

RECEIPT_VERSION = 1
R = TypeVar("R", bound=msgspec.Struct)
W = TypeVar("W", bound=msgspec.Struct)
_HEX_FIELDS = ("request_sha256", "response_sha256")


class Receipt(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """The signed facts about one answer."""

    version: int
    request_id: str
    """The client's request id (its ``X-Cocoon-Request-Id``), forwarded unchanged by the proxy."""
    request_sha256: bytes
    response_sha256: bytes
    model_id: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    coefficient: int
    issued_at: int


class _Wire(msgspec.Struct, frozen=True, array_like=True):
    receipt: Receipt
    signer: bytes
    signature: bytes


class SignedReceipt(msgspec.Struct, frozen=True):
    """A receipt with its signer's raw Ed25519 key and the signature."""

    receipt: Receipt
    signer: bytes
    signature: bytes

    def encode(self) -> bytes:
        """Wire form (`AnswerEnd.receipt`)."""
        return msgspec.msgpack.encode(_Wire(self.receipt, self.signer, self.signature))

    @classmethod
    def decode(cls, data: bytes) -> SignedReceipt:
        """Parse the wire form; raise `ReceiptError` if it is not a receipt."""
        wire = decode_wire(data, _Wire, "receipt")
        return cls(wire.receipt, wire.signer, wire.signature)

    def verify(self, expected_signer: bytes | None = None) -> Receipt:
        """Check the signature (and that the signer is the expected key); return the receipt."""
        verify_signed(self.receipt, self.signer, self.signature, expected_signer, RECEIPT_VERSION, "receipt")
        return self.receipt

    def to_json(self) -> dict[str, Any]:
        """The receipt for apps and files: its fields, then ``signer`` and ``signature`` in hex."""
        return receipt_json(self.receipt, _HEX_FIELDS, self.signer, self.signature)

    @classmethod
    def from_json(cls, doc: Any) -> SignedReceipt:
        """Rebuild from `to_json` output; raise `ReceiptError` naming a missing or malformed field."""
        receipt, signer, signature = receipt_from_json(doc, Receipt, _HEX_FIELDS)
        return cls(receipt, signer, signature)


def receipt_json(
    receipt: msgspec.Struct, hex_fields: tuple[str, ...], signer: bytes, signature: bytes
) -> dict[str, Any]:
    """A receipt Struct as JSON: its fields (``hex_fields`` in hex), then ``signer`` and ``signature``."""
    doc: dict[str, Any] = dict(zip(field_names(type(receipt)), msgspec.to_builtins(receipt), strict=True))
    for name in hex_fields:
        doc[name] = getattr(receipt, name).hex()
    doc["signer"] = signer.hex()
    doc["signature"] = signature.hex()
    return doc


def receipt_from_json(doc: Any, kind: type[R], hex_fields: tuple[str, ...]) -> tuple[R, bytes, bytes]:
    """The inverse of `receipt_json`: (receipt, signer, signature); `ReceiptError` naming a bad field."""
    if not isinstance(doc, dict):
        raise ReceiptError("a receipt must be a JSON object")
    names = field_names(kind)
    try:
        fields = {name: doc[name] for name in names}
        for name in hex_fields:
            fields[name] = bytes.fromhex(fields[name])
        receipt = msgspec.convert([fields[name] for name in names], kind)
        return receipt, bytes.fromhex(doc["signer"]), bytes.fromhex(doc["signature"])
    except KeyError as exc:
        raise ReceiptError(f"receipt is missing the field {exc.args[0]!r}") from exc
    except (TypeError, ValueError, msgspec.ValidationError) as exc:
        raise ReceiptError(f"receipt has a malformed field: {exc}") from exc


class _AnyWire(msgspec.Struct, frozen=True, array_like=True):
    """Any receipt's wire form, its receipt not read yet (trailing fields such as a tag are skipped)."""

    receipt: list[Any]
    signer: bytes
    signature: bytes


def receipt_version(data: bytes) -> int:
    """The version of a receipt's wire form (1: `SignedReceipt`, 2: an end-to-end receipt), read
    without trusting the rest; `ReceiptError` if it is not a receipt at all."""
    try:
        wire = msgspec.msgpack.decode(data, type=_AnyWire)
    except msgspec.DecodeError as exc:
        raise ReceiptError(f"receipt does not decode: {exc}") from exc
    if not wire.receipt or not isinstance(wire.receipt[0], int):
        raise ReceiptError("receipt has no version")
    return wire.receipt[0]


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


def decode_wire(data: bytes, wire: type[W], kind: str) -> W:
    """A receipt's wire form (receipt, signer, signature) as ``wire``; `ReceiptError` if it does not
    decode. ``kind`` names the receipt in the message."""
    try:
        return msgspec.msgpack.decode(data, type=wire)
    except msgspec.DecodeError as exc:
        raise ReceiptError(f"{kind} does not decode: {exc}") from exc


def verify_signed(
    receipt: _Versioned,
    signer: bytes,
    signature: bytes,
    expected_signer: bytes | None,
    version: int,
    kind: str,
) -> None:
    """The checks every receipt kind shares: `check_signer` and its signature over ``RECEIPT_DOMAIN ||
    msgpack(receipt)``; `ReceiptError` naming the first that fails."""
    check_signer(receipt, signer, expected_signer, version, kind)
    verify(signer, RECEIPT_DOMAIN, msgspec.msgpack.encode(receipt), signature, ReceiptError, kind)


def check_signer(
    receipt: _Versioned, signer: bytes, expected_signer: bytes | None, version: int, kind: str
) -> None:
    """A receipt names ``expected_signer`` (when given) as its signer and is of ``version``."""
    if expected_signer is not None and signer != expected_signer:
        raise ReceiptError(
            f"{kind} is signed by key {signer.hex()[:16]}…, not by the attested worker key "
            f"{expected_signer.hex()[:16]}… of this answer's path"
        )
    if receipt.version != version:
        raise ReceiptError(f"{kind} version {receipt.version} is not supported")


def sign_struct(receipt: msgspec.Struct, private_key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """(signer, signature) of a receipt Struct: the node's raw public key and its signature over
    ``RECEIPT_DOMAIN || msgpack(receipt)``."""
    return public_key_bytes(private_key), sign(private_key, RECEIPT_DOMAIN, msgspec.msgpack.encode(receipt))


@functools.cache
def field_names(kind: type[msgspec.Struct]) -> tuple[str, ...]:
    """A Struct type's field names. Cached: msgspec resolves the annotations on every `fields` call,
    a hot spot per answer."""
    return tuple(f.name for f in msgspec.structs.fields(kind))


def sign_receipt(receipt: Receipt, private_key: Ed25519PrivateKey) -> SignedReceipt:
    """Sign ``receipt`` with the node's certificate key."""
    return SignedReceipt(receipt, *sign_struct(receipt, private_key))


def check_hashes(receipt: Receipt, *, request: bytes | None = None, response: bytes | None = None) -> None:
    """Raise `ReceiptError` if the given request body or response bytes do not hash to the receipt's."""
    if request is not None and hashlib.sha256(request).digest() != receipt.request_sha256:
        raise ReceiptError("the request body does not match the receipt's request_sha256")
    if response is not None and hashlib.sha256(response).digest() != receipt.response_sha256:
        raise ReceiptError(
            "the response bytes do not match the receipt's response_sha256: the answer was altered "
            "(or these are not the bytes the worker delivered)"
        )
