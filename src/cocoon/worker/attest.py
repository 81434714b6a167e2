"""What a worker attests: its signed statement (model, config, GPU) and a signed receipt per answer.

Once the served model is known, the statement is signed into every certificate the worker presents
(re-signed at each hourly re-issue, so ``issued_at`` stays fresh). `ReceiptSigner` signs each answer
with the same attested key; the hashes cover the request body as received (`RunQuery.body`) and the
response bytes as delivered (the concatenation of the `AnswerChunk` payloads the worker sent). An
end-to-end answer gets a v2 receipt instead (`ReceiptSigner.sign_e2e`): it covers the envelope as
received and the sealed frames as sent, which the proxy can check without reading them, and is
tagged for the client under the answer's own keys (`cocoon.attestation.receipt_e2e`).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cocoon.attestation.gpu import GpuEvidenceSource, LocalGpuEvidence, NoGpuEvidence
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.receipt import RECEIPT_VERSION, Receipt, sign_receipt
from cocoon.attestation.receipt_e2e import E2E_RECEIPT_VERSION, E2EReceipt, sign_e2e_receipt
from cocoon.attestation.statement import Statement, make_statement, model_hash
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.e2e.envelope import OpenedRequest
from cocoon.e2e.frames import FrameSealer
from cocoon.errors import ConfigError
from cocoon.node.identity import config_hash
from cocoon.roles import WorkerConfig
from cocoon.usage import Usage
from cocoon.wire.headers import WORKER_STATEMENT
from cocoon.wire.messages import RunQuery


def gpu_evidence_source(config: WorkerConfig) -> GpuEvidenceSource:
    """The configured GPU evidence (a saved local report), or none."""
    if not config.gpu_evidence_file:
        return NoGpuEvidence()
    path = Path(config.gpu_evidence_file).expanduser()
    try:
        return LocalGpuEvidence(path.read_bytes())
    except OSError as exc:
        raise ConfigError(
            f"cannot read gpu_evidence_file {path}: {exc}; fix the path or leave it empty"
        ) from exc


def worker_claims(config: WorkerConfig, model: str, gpu: GpuEvidenceSource) -> Statement:
    """The statement to sign into the certificates (``issued_at`` is set at each issue)."""
    return make_statement(
        0, model_id=model, model_hash=model_hash(model), config_hash=config_hash(config), gpu=gpu.evidence()
    )


class ReceiptSigner:
    """Signs receipts for answers of one model at one coefficient with the node's key."""

    def __init__(
        self, identity: NodeIdentity, model: str, coefficient: int, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.identity = identity
        self.model = model
        self.coefficient = coefficient
        self.clock = clock
        self._statement: bytes | None = None
        self._headers: tuple[tuple[str, str], ...] = ()

    def headers(self) -> tuple[tuple[str, str], ...]:
        """Head header with the statement of the certificate presented now (fresh after each re-issue).

        The proxy's handshake saw an older certificate on a long-lived connection; this one is signed
        by the same attested key, so the client can bound its age (`max_statement_age_s`). Encoded
        once per statement (every answer sends it; a re-issue changes the bytes).
        """
        statement = self.identity.certificate.statement
        if statement != self._statement:
            self._headers = ((WORKER_STATEMENT, base64.b64encode(statement).decode()),) if statement else ()
            self._statement = statement
        return self._headers

    def sign(self, request: RunQuery, response_sha256: bytes, usage: Usage) -> bytes:
        """The wire form of the receipt for one answer."""
        receipt = Receipt(
            version=RECEIPT_VERSION,
            request_id=request.client_request_id,
            request_sha256=hashlib.sha256(request.body).digest(),
            response_sha256=response_sha256,
            model_id=self.model,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            coefficient=self.coefficient,
            issued_at=int(self.clock.time()),
        )
        return sign_receipt(receipt, self.identity.private_key).encode()

    def sign_e2e(self, request: RunQuery, opened: OpenedRequest, sealer: FrameSealer, usage: Usage) -> bytes:
        """The wire form of the v2 receipt for one end-to-end answer, signed and tagged by ``sealer``:
        the envelope of ``request`` opened as ``opened``, the frames ``sealer`` sealed so far and the
        usage.

        The model named is the header's: the worker served it only after checking the body names the
        same model, and the proxy and the client expect the one they routed and sealed for.
        """
        assert request.e2e is not None, "a v2 receipt is for an end-to-end request"
        frames = sealer.log
        receipt = E2EReceipt(
            version=E2E_RECEIPT_VERSION,
            request_id=request.client_request_id,
            hop_request_id=request.request_id,
            model_id=opened.header.model,
            key_id=opened.key_id,
            header_sha256=opened.secret.h,
            envelope_sha256=request.e2e.sha256(),
            frames_sha256=frames.digest(),
            frame_count=frames.count,
            final=frames.final,
            max_tokens=request.max_tokens,
            n=opened.header.n,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            coefficient=self.coefficient,
            issued_at=int(self.clock.time()),
        )
        return sign_e2e_receipt(receipt, self.identity.private_key).with_tag(sealer.receipt_tag).encode()


def attest_worker(
    identity: NodeIdentity, config: WorkerConfig, model: str, clock: Clock = SYSTEM_CLOCK
) -> ReceiptSigner:
    """Sign the worker's statement into a fresh certificate and return its receipt signer."""
    identity.claims = worker_claims(config, model, gpu_evidence_source(config))
    identity.issue(clock.time())
    return ReceiptSigner(identity, model, config.coefficient, clock)
