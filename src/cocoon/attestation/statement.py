"""The signed claims statement: attested facts a node's certificate key signs (ours, spec/attestation.md).

It travels in the certificate's claims extension after the 32-byte key. The quote binds only the key
(reportdata = SHA-512 of the key, as in the reference), and the key signs the statement, so the chain
"measured image -> key -> statement" makes every field as trustworthy as the image that signed it:
the model it serves, a hash of its configuration, its GPU evidence, and when it said so.

Encoding: msgpack ``[body, signature]`` where ``body`` is the msgpack array of `Statement` and the
signature is Ed25519 over ``STATEMENT_DOMAIN || body`` (see `cocoon.attestation.signed`).
"""

from __future__ import annotations

import hashlib

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.gpu import GpuEvidence
from cocoon.attestation.signed import STATEMENT_DOMAIN, sign, verify
from cocoon.e2e.suite import KEY_SIZE, SUITE, key_id
from cocoon.errors import StatementError

STATEMENT_VERSION = 2
"""Version 2 adds the end-to-end encryption key (spec/e2e.md); version 1 statements are still read."""
READABLE_VERSIONS = frozenset({1, 2})
MAX_STATEMENT_SIZE = 4096
CLOCK_SKEW_S = 300
"""A statement may claim to be this much in the future (clocks of two machines differ)."""


class Statement(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """What a node attests about itself; hashes are raw 32-byte SHA-256 digests (empty = not claimed)."""

    version: int
    issued_at: int
    """Unix seconds when the key signed it (each certificate issue signs a fresh one)."""
    model_id: str = ""
    model_hash: bytes = b""
    config_hash: bytes = b""
    gpu_evidence_sha256: bytes = b""
    gpu_model: str = ""
    gpu_vram_mb: int = 0
    e2e_suite: bytes = b""
    """The HPKE suite of ``e2e_kem_pk`` (`cocoon.e2e.suite.SUITE`); empty: no end-to-end key."""
    e2e_kem_pk: bytes = b""
    """The worker's current X25519 HPKE public key, made at this certificate's issue, memory only."""
    e2e_key_id: bytes = b""
    """``SHA-256(suite ‖ pk)[:8]``: the id an envelope names the key by."""
    e2e_not_after: int = 0
    """Unix seconds after which clients must not encrypt to the key."""

    @property
    def has_e2e_key(self) -> bool:
        return bool(self.e2e_kem_pk)

    def check_e2e_key(self) -> None:
        """Raise `StatementError` unless the end-to-end key it publishes (if any) is of the suite this
        network speaks, of the right size, under its own key id."""
        if not self.e2e_kem_pk:
            return
        if self.e2e_suite != SUITE:
            raise StatementError(f"its end-to-end key is of suite {self.e2e_suite.hex()}, not {SUITE.hex()}")
        if len(self.e2e_kem_pk) != KEY_SIZE:
            raise StatementError(f"its end-to-end key is not {KEY_SIZE} bytes")
        if self.e2e_key_id != key_id(self.e2e_kem_pk):
            raise StatementError("its statement's end-to-end key id is not the id of its key")

    def describe(self) -> str:
        """One line for logs."""
        model = f"model {self.model_id} ({self.model_hash.hex()[:16]}…)" if self.model_id else "no model"
        gpu = f"gpu {self.gpu_model} {self.gpu_vram_mb} MB" if self.gpu_model else "no gpu evidence"
        e2e = f", e2e key {self.e2e_key_id.hex()}" if self.e2e_kem_pk else ""
        return f"statement v{self.version} issued {self.issued_at}: {model}, {gpu}{e2e}"


class _Signed(msgspec.Struct, frozen=True, array_like=True):
    body: bytes
    signature: bytes


def make_statement(
    issued_at: int,
    *,
    model_id: str = "",
    model_hash: bytes = b"",
    config_hash: bytes = b"",
    gpu: GpuEvidence | None = None,
) -> Statement:
    """A statement of the current version with the GPU fields taken from ``gpu`` when there is one."""
    return Statement(
        version=STATEMENT_VERSION,
        issued_at=issued_at,
        model_id=model_id,
        model_hash=model_hash,
        config_hash=config_hash,
        gpu_evidence_sha256=gpu.sha256 if gpu else b"",
        gpu_model=gpu.model if gpu else "",
        gpu_vram_mb=gpu.vram_mb if gpu else 0,
    )


def sign_statement(statement: Statement, private_key: Ed25519PrivateKey) -> bytes:
    """The bytes to put after the key in the claims extension."""
    body = msgspec.msgpack.encode(statement)
    return msgspec.msgpack.encode(_Signed(body, sign(private_key, STATEMENT_DOMAIN, body)))


def verify_statement(data: bytes, public_key: bytes) -> Statement:
    """Decode statement bytes and check they were signed by ``public_key``; raise `StatementError`."""
    if not data:
        raise StatementError("the peer's certificate carries no signed statement; it must run a cocoon node")
    if len(data) > MAX_STATEMENT_SIZE:
        raise StatementError(f"statement is {len(data)} bytes, above the {MAX_STATEMENT_SIZE}-byte limit")
    try:
        signed = msgspec.msgpack.decode(data, type=_Signed)
    except msgspec.DecodeError as exc:
        raise StatementError(f"statement is not a signed cocoon statement: {exc}") from exc
    verify(
        public_key,
        STATEMENT_DOMAIN,
        signed.body,
        signed.signature,
        StatementError,
        "claims statement",
        remember=True,
    )
    try:
        statement = msgspec.msgpack.decode(signed.body, type=Statement)
    except msgspec.DecodeError as exc:
        raise StatementError(f"statement body does not decode: {exc}") from exc
    if statement.version not in READABLE_VERSIONS:
        raise StatementError(
            f"statement version {statement.version} is not supported (this node reads "
            f"{sorted(READABLE_VERSIONS)}); upgrade one of the nodes"
        )
    return statement


def check_fresh(statement: Statement, now: float, max_age_s: float) -> None:
    """Raise `StatementError` if older than ``max_age_s`` (0 = no bound) or dated in the future."""
    if statement.issued_at > now + CLOCK_SKEW_S:
        raise StatementError(
            f"statement is issued at {statement.issued_at}, {statement.issued_at - now:.0f} s in the future; "
            "check both clocks"
        )
    age = now - statement.issued_at
    if max_age_s > 0 and age > max_age_s:
        raise StatementError(
            f"statement is {age:.0f} s old, older than the allowed {max_age_s:g} s; the peer must "
            "re-issue its certificate (or raise max_statement_age_s)"
        )


def model_hash(model_id: str) -> bytes:
    """SHA-256 of the full model id string, as the root contract's model registry holds it.

    Ids of the form ``name@revision:sha256-of-weights`` carry the weights' digest, so this hash binds
    the weights too (spec/contracts.md: model hash = sha256 of the full model string).
    """
    return hashlib.sha256(model_id.encode()).digest()
