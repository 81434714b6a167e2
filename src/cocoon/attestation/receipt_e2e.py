"""Receipts v2: what a worker signs for an end-to-end encrypted answer (spec/e2e.md, "Receipts v2").

The worker cannot hash plaintext the proxy could check, so a v2 receipt covers what both the proxy
and the client see: the envelope as received, the response frames as sent (SHA-256 over each frame's
u32 length and bytes, their count, whether the last was final), the authenticated header hash ``h``
and the routing fields, next to the token counts the proxy charges. The proxy checks it against the
bytes it relayed before charging; the client checks it again after decrypting. Signed like v1, with
the worker's attested certificate key over ``RECEIPT_DOMAIN || msgpack(E2EReceipt)``; the version
field (2) keeps the two kinds apart.

The worker also tags the signed receipt (`SignedE2EReceipt.tag`): an HMAC under a key of the answer's
own key schedule (`cocoon.e2e.frames`), which only the worker and the client hold. The proxy, which
charges on it, verifies the signature; the client checks the tag instead. A departure from
spec/e2e.md, whose client verifies the signature too: a matching tag says that the receipt and its
signature are exactly what the worker sent (as the frames' AEAD says it of the frames), and costs an
HMAC instead of an Ed25519 verification, which was the largest single item of the client's CPU per
request. The signature stays the proof for anyone else (`cocoon receipt verify` checks it); a receipt
without a tag (a worker that predates it) is verified by its signature as before.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.receipt import (
    check_signer,
    decode_wire,
    receipt_from_json,
    receipt_json,
    sign_struct,
    verify_signed,
)
from cocoon.errors import ReceiptError
from cocoon.usage import Usage

E2E_RECEIPT_VERSION = 2
TagOf = Callable[[bytes], bytes]
"""The end-to-end tag of the bytes a receipt's tag covers (`cocoon.e2e.frames`' ``receipt_tag``)."""
_HEX_FIELDS = ("key_id", "header_sha256", "envelope_sha256", "frames_sha256")


class E2EReceipt(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """The signed facts about one end-to-end encrypted answer."""

    version: int
    request_id: str
    """The client's request id (its ``X-Cocoon-Request-Id``, as in v1 receipts; the client checks it)."""
    hop_request_id: int
    """The `RunQuery.request_id` of the proxy-to-worker hop (the proxy checks it)."""
    model_id: str
    key_id: bytes
    header_sha256: bytes
    """``h``, the hash of the envelope's header."""
    envelope_sha256: bytes
    frames_sha256: bytes
    frame_count: int
    final: bool
    """Whether the last frame sent was the final frame (False for a partial answer)."""
    max_tokens: int
    n: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    coefficient: int
    issued_at: int


class _Wire(msgspec.Struct, frozen=True, array_like=True):
    # A decoder that predates the tag ignores it (msgspec skips the trailing fields it does not know
    # of an array-like struct), and this one reads a receipt without it as untagged.
    receipt: E2EReceipt
    signer: bytes
    signature: bytes
    tag: bytes = b""


@dataclass(frozen=True, slots=True)
class FramesSeen:
    """What one side saw of an answer's frames (see `cocoon.e2e.frames.FrameLog`)."""

    sha256: bytes
    count: int
    final: bool


@dataclass(frozen=True, slots=True)
class E2EExpectation:
    """What a v2 receipt must say, as the checking side knows it. ``hop_request_id`` None: not known here
    (the client does not see the proxy-to-worker id)."""

    client_request_id: str
    model: str
    header_sha256: bytes
    envelope_sha256: bytes
    max_tokens: int
    n: int
    hop_request_id: int | None = None
    key_ids: tuple[bytes, ...] = ()
    """The key ids the envelope was sealed to (the receipt's must be one of them); empty: not checked."""
    coefficient: int | None = None
    """The coefficient the request was priced at, when this side knows it (the proxy does)."""


class SignedE2EReceipt(msgspec.Struct, frozen=True):
    """A v2 receipt with its signer's raw Ed25519 key, the signature and the end-to-end tag."""

    receipt: E2EReceipt
    signer: bytes
    signature: bytes
    tag: bytes = b""
    """The worker's HMAC over `tagged_bytes` under a key of the answer's key schedule
    (`cocoon.e2e.frames`), which only it and the client hold; empty from a worker that predates it."""

    def encode(self) -> bytes:
        """Wire form (`AnswerEnd.receipt`, `AnswerError.receipt`)."""
        return msgspec.msgpack.encode(_Wire(self.receipt, self.signer, self.signature, self.tag))

    @classmethod
    def decode(cls, data: bytes) -> SignedE2EReceipt:
        wire = decode_wire(data, _Wire, "end-to-end receipt")
        return cls(wire.receipt, wire.signer, wire.signature, wire.tag)

    def tagged_bytes(self) -> bytes:
        """What the tag covers: the signed bytes of the receipt, the signer and the signature."""
        return msgspec.msgpack.encode(self.receipt) + self.signer + self.signature

    def with_tag(self, tag_of: TagOf) -> SignedE2EReceipt:
        """This receipt tagged by ``tag_of`` (the worker's `FrameSealer.receipt_tag`)."""
        return msgspec.structs.replace(self, tag=tag_of(self.tagged_bytes()))

    def authenticate(self, expected_signer: bytes, tag_of: TagOf | None = None) -> E2EReceipt:
        """The receipt, once it is known to be what the worker ``expected_signer`` sent.

        With a tag and ``tag_of`` (the client's `FrameOpener.receipt_tag`), the tag must match: the
        signature is then the worker's own, relayed untouched, and is not verified again here (the
        proxy verified it before charging; `cocoon receipt verify` verifies it offline). Without
        either, `verify` checks the signature."""
        if not self.tag or tag_of is None:
            return self.verify(expected_signer)
        check_signer(self.receipt, self.signer, expected_signer, E2E_RECEIPT_VERSION, "end-to-end receipt")
        if not hmac.compare_digest(self.tag, tag_of(self.tagged_bytes())):
            raise ReceiptError(
                "end-to-end receipt's tag does not match: the receipt or its signature was altered "
                "on its way from the worker"
            )
        return self.receipt

    def verify(self, expected_signer: bytes) -> E2EReceipt:
        """Check the version and the signature by ``expected_signer``; return the receipt."""
        verify_signed(
            self.receipt,
            self.signer,
            self.signature,
            expected_signer,
            E2E_RECEIPT_VERSION,
            "end-to-end receipt",
        )
        return self.receipt

    def check(
        self,
        signer: bytes,
        expected: E2EExpectation,
        frames: FramesSeen,
        usage: Usage,
        *,
        tag_of: TagOf | None = None,
    ) -> E2EReceipt:
        """`authenticate` (by the signature unless ``tag_of`` is given), then every field against
        what this side saw; `ReceiptError` names the first that differs."""
        receipt = self.authenticate(signer, tag_of)
        wanted: list[tuple[str, object, object]] = [
            ("request_id", receipt.request_id, expected.client_request_id),
            ("model_id", receipt.model_id, expected.model),
            ("header_sha256", receipt.header_sha256, expected.header_sha256),
            ("envelope_sha256", receipt.envelope_sha256, expected.envelope_sha256),
            ("max_tokens", receipt.max_tokens, expected.max_tokens),
            ("n", receipt.n, expected.n),
            ("frames_sha256", receipt.frames_sha256, frames.sha256),
            ("frame_count", receipt.frame_count, frames.count),
            ("final", receipt.final, frames.final),
            ("prompt_tokens", receipt.prompt_tokens, usage.prompt_tokens),
            ("cached_tokens", receipt.cached_tokens, usage.cached_tokens),
            ("completion_tokens", receipt.completion_tokens, usage.completion_tokens),
            ("reasoning_tokens", receipt.reasoning_tokens, usage.reasoning_tokens),
        ]
        if expected.hop_request_id is not None:
            wanted.append(("hop_request_id", receipt.hop_request_id, expected.hop_request_id))
        if expected.coefficient is not None:
            wanted.append(("coefficient", receipt.coefficient, expected.coefficient))
        if expected.key_ids and receipt.key_id not in expected.key_ids:
            wanted.append(("key_id", receipt.key_id.hex(), "one of the envelope's key ids"))
        for name, signed, seen in wanted:
            if signed != seen:
                raise ReceiptError(f"end-to-end receipt's {name} differs from what was relayed")
        return receipt

    def to_json(self) -> dict[str, Any]:
        """The receipt for apps: its fields (hashes in hex), ``signer`` and ``signature``."""
        return receipt_json(self.receipt, _HEX_FIELDS, self.signer, self.signature)

    @classmethod
    def from_json(cls, doc: Any) -> SignedE2EReceipt:
        receipt, signer, signature = receipt_from_json(doc, E2EReceipt, _HEX_FIELDS)
        return cls(receipt, signer, signature)


def sign_e2e_receipt(receipt: E2EReceipt, private_key: Ed25519PrivateKey) -> SignedE2EReceipt:
    """Sign ``receipt`` with the worker's certificate key."""
    return SignedE2EReceipt(receipt, *sign_struct(receipt, private_key))
