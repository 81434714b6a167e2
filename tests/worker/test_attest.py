"""What a worker attests: its statement (model, config, GPU evidence) and the receipt of each answer."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.providers import FakeQuoteProvider
from cocoon.attestation.receipt import SignedReceipt
from cocoon.attestation.statement import model_hash, verify_statement
from cocoon.clock import FakeClock
from cocoon.errors import ConfigError
from cocoon.node.identity import config_hash
from cocoon.roles import WorkerConfig
from cocoon.usage import Usage
from cocoon.wire.headers import WORKER_STATEMENT
from cocoon.wire.messages import RunQuery
from cocoon.worker.attest import attest_worker

EVIDENCE = b'{"gpu_model": "H100 80GB HBM3", "vram_mb": 81559, "report": "..."}'


def _identity() -> NodeIdentity:
    return NodeIdentity.create(Ed25519PrivateKey.generate(), FakeQuoteProvider(), os.urandom, 1_750_000_000)


def test_the_statement_names_model_config_and_gpu_evidence(tmp_path: Path) -> None:
    (tmp_path / "gpu.json").write_bytes(EVIDENCE)
    config = WorkerConfig(gpu_evidence_file=str(tmp_path / "gpu.json"), coefficient=1500)
    identity = _identity()
    attest_worker(identity, config, "Qwen3-8B")
    statement = verify_statement(identity.certificate.statement, identity.public_key)
    assert (statement.model_id, statement.model_hash) == ("Qwen3-8B", model_hash("Qwen3-8B"))
    assert statement.config_hash == config_hash(config) != config_hash(WorkerConfig())
    assert (statement.gpu_model, statement.gpu_vram_mb) == ("H100 80GB HBM3", 81559)
    assert statement.gpu_evidence_sha256 == hashlib.sha256(EVIDENCE).digest()


def test_an_unreadable_evidence_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read gpu_evidence_file"):
        attest_worker(_identity(), WorkerConfig(gpu_evidence_file=str(tmp_path / "missing")), "m")


def test_receipts_are_signed_with_the_attested_key_over_the_request_as_received() -> None:
    identity = _identity()
    signer = attest_worker(identity, WorkerConfig(coefficient=1500), "m")
    request = RunQuery(7, "m", b'{"model":"m"}', 2000, 16, 1000, client_request_id="00000000000000aa")
    data = SignedReceipt.decode(signer.sign(request, b"\x11" * 32, Usage(10, 2, 5, 1)))
    receipt = data.verify(identity.public_key)
    assert receipt.request_id == "00000000000000aa"
    assert receipt.request_sha256 == hashlib.sha256(request.body).digest()
    assert (receipt.response_sha256, receipt.model_id, receipt.coefficient) == (b"\x11" * 32, "m", 1500)
    assert (receipt.prompt_tokens, receipt.cached_tokens, receipt.completion_tokens) == (10, 2, 5)
    assert receipt.reasoning_tokens == 1


def test_the_statement_and_the_receipts_are_dated_by_the_injected_clock() -> None:
    clock = FakeClock(wall=1_750_000_100.0)
    identity = _identity()
    signer = attest_worker(identity, WorkerConfig(), "m", clock)
    assert verify_statement(identity.certificate.statement, identity.public_key).issued_at == 1_750_000_100
    clock.advance(60)
    request = RunQuery(7, "m", b"{}", 2000, 16, 1000, client_request_id="00000000000000ab")
    receipt = SignedReceipt.decode(signer.sign(request, b"\x11" * 32, Usage(1, 0, 1, 0)))
    assert receipt.verify(identity.public_key).issued_at == 1_750_000_160


def test_the_statement_header_follows_each_reissue() -> None:
    """The encoded header is kept between answers but never outlives the certificate it came from."""
    clock = FakeClock(wall=1_750_000_100.0)
    identity = _identity()
    signer = attest_worker(identity, WorkerConfig(), "m", clock)
    first = signer.headers()
    assert first == ((WORKER_STATEMENT, base64.b64encode(identity.certificate.statement).decode()),)
    assert signer.headers() is first
    clock.advance(3600)
    identity.issue(clock.time())
    renewed = signer.headers()
    assert renewed != first
    assert renewed == ((WORKER_STATEMENT, base64.b64encode(identity.certificate.statement).decode()),)
