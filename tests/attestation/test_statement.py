"""Signed claims statements: round trip, tampering, wrong key, freshness, policy wrapper, identity."""

from __future__ import annotations

import hashlib
import os

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.gpu import FakeGpuEvidence, parse_local_evidence
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import FakePolicy
from cocoon.attestation.providers import FakeQuoteProvider
from cocoon.attestation.statement import (
    Statement,
    check_fresh,
    make_statement,
    model_hash,
    sign_statement,
    verify_statement,
)
from cocoon.attestation.statement_policy import StatementPolicy, StatementRequirements
from cocoon.errors import ConfigError, PolicyError, StatementError
from cocoon.registry.snapshot import model_hash as registry_model_hash

NOW = 1_750_000_000


def _raw(key: Ed25519PrivateKey) -> bytes:
    return NodeIdentity(key, None, os.urandom).public_key


def _statement() -> Statement:
    return make_statement(
        NOW,
        model_id="Qwen3-8B",
        model_hash=model_hash("Qwen3-8B"),
        config_hash=b"\x07" * 32,
        gpu=FakeGpuEvidence().evidence(),
    )


def test_round_trip_keeps_every_field() -> None:
    key = Ed25519PrivateKey.generate()
    statement = _statement()
    assert verify_statement(sign_statement(statement, key), _raw(key)) == statement
    assert statement.gpu_model == "FAKE-GPU" and statement.gpu_vram_mb == 81_920


@pytest.mark.parametrize(
    "change",
    [
        {"issued_at": NOW + 1},
        {"model_id": "Other"},
        {"model_hash": b"\x00" * 32},
        {"config_hash": b"\x08" * 32},
        {"gpu_evidence_sha256": b""},
        {"gpu_model": "H100"},
        {"gpu_vram_mb": 1},
    ],
)
def test_a_changed_field_does_not_verify(change: dict[str, object]) -> None:
    key = Ed25519PrivateKey.generate()
    signed = msgspec.msgpack.decode(sign_statement(_statement(), key))
    body, signature = signed
    forged_body = msgspec.msgpack.encode(msgspec.structs.replace(_statement(), **change))
    assert forged_body != body
    forged = msgspec.msgpack.encode([forged_body, signature])
    with pytest.raises(StatementError, match="does not verify"):
        verify_statement(forged, _raw(key))


def test_wrong_key_missing_and_garbage_are_refused() -> None:
    data = sign_statement(_statement(), Ed25519PrivateKey.generate())
    with pytest.raises(StatementError, match="does not verify"):
        verify_statement(data, _raw(Ed25519PrivateKey.generate()))
    with pytest.raises(StatementError, match="carries no signed statement"):
        verify_statement(b"", b"\x01" * 32)
    with pytest.raises(StatementError, match="not a signed cocoon statement"):
        verify_statement(b"\xc1junk", b"\x01" * 32)


def test_freshness_bound() -> None:
    statement = _statement()
    check_fresh(statement, NOW + 100, 0)  # no bound
    check_fresh(statement, NOW + 100, 100)
    with pytest.raises(StatementError, match="101 s old"):
        check_fresh(statement, NOW + 101, 100)
    with pytest.raises(StatementError, match="in the future"):
        check_fresh(statement, NOW - 3600, 0)


def test_model_hash_is_the_registry_hash_of_the_full_id() -> None:
    digest = "ab" * 32
    model_id = f"SmolLM2@main:{digest}"
    assert model_hash(model_id) == hashlib.sha256(model_id.encode()).digest()
    assert int.from_bytes(model_hash(model_id), "big") == registry_model_hash(model_id)


def test_local_gpu_evidence_is_digested_whole() -> None:
    raw = b'{"gpu_model": "H100 80GB", "vram_mb": 81559, "evidence": "..."}'
    evidence = parse_local_evidence(raw)
    assert (evidence.model, evidence.vram_mb, evidence.sha256) == (
        "H100 80GB",
        81559,
        hashlib.sha256(raw).digest(),
    )
    with pytest.raises(ConfigError, match="vram_mb"):
        parse_local_evidence(b'{"gpu_model": "H100"}')


def _identity(statement: Statement | None) -> NodeIdentity:
    return NodeIdentity.create(
        Ed25519PrivateKey.generate(), FakeQuoteProvider(), os.urandom, NOW, claims=statement
    )


def test_identity_signs_a_fresh_statement_on_every_issue() -> None:
    identity = _identity(_statement())
    first = verify_statement(identity.certificate.statement, identity.public_key)
    identity.issue(NOW + 3600)
    second = verify_statement(identity.certificate.statement, identity.public_key)
    assert (first.issued_at, second.issued_at) == (NOW, NOW + 3600)
    assert second.model_id == "Qwen3-8B"


def test_statement_policy_requirements() -> None:
    allowed = StatementPolicy(
        FakePolicy(), StatementRequirements(model_hashes=frozenset({model_hash("Qwen3-8B")}))
    )
    cert = _identity(_statement()).certificate
    assert allowed.verify(cert, NOW + 10).public_key == cert.public_key
    other = StatementPolicy(FakePolicy(), StatementRequirements(model_hashes=frozenset({model_hash("x")})))
    with pytest.raises(PolicyError, match=r"model Qwen3-8B .* not allowed"):
        other.verify(cert, NOW + 10)
    with pytest.raises(StatementError, match="carries no signed statement"):
        allowed.verify(_identity(None).certificate, NOW + 10)
    stale = StatementPolicy(FakePolicy(), StatementRequirements(max_age_s=60))
    with pytest.raises(StatementError, match="older than the allowed 60 s"):
        stale.verify(cert, NOW + 61)
    # No requirement: a node without a statement (e.g. the reference) is still accepted.
    assert StatementPolicy(FakePolicy(), StatementRequirements()).verify(_identity(None).certificate, NOW)
