"""`cocoon receipt verify FILE`: check a worker's signed receipt offline.

FILE is a receipt in JSON (``GET /v1/receipts/{request_id}``, a ``<request_id>.json`` from the client's
``receipts_dir``, or a response body that carries a ``receipt`` field). The signature is checked with the
signer key the receipt names (``--signer`` requires a particular key, e.g. the attested worker key);
``--request`` / ``--response`` also check the exact bytes the worker answered for. A plaintext (v1)
receipt signs their SHA-256 itself. An end-to-end (v2) receipt signs the ciphertext: ``--e2e`` (the
``<request_id>.e2e`` file the client keeps beside it) is checked against the receipt and opened, and
the request and response must be what it opens to. One line says the verdict; the exit status is 0
when everything holds, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cocoon.attestation.receipt import Receipt, SignedReceipt, check_hashes
from cocoon.attestation.receipt_e2e import E2E_RECEIPT_VERSION, E2EReceipt, SignedE2EReceipt
from cocoon.e2e.evidence import Evidence, open_evidence
from cocoon.errors import ReceiptError

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def receipt() -> None:
    """Verify signed answer receipts."""


@receipt.command()
@click.argument("file", type=_FILE)
@click.option("--request", "request_file", type=_FILE, help="Request body the receipt must cover.")
@click.option("--response", "response_file", type=_FILE, help="Response bytes the receipt must cover.")
@click.option("--signer", help="Hex Ed25519 key that must have signed (the attested worker key).")
@click.option(
    "--e2e",
    "evidence_file",
    type=_FILE,
    help="For an end-to-end receipt: the ciphertext it signs and its secret (<request_id>.e2e).",
)
def verify(
    file: Path,
    request_file: Path | None,
    response_file: Path | None,
    signer: str | None,
    evidence_file: Path | None,
) -> None:
    """Check a receipt's signature and, if given, the request and response bytes it covers."""
    request = request_file.read_bytes() if request_file else None
    response = response_file.read_bytes() if response_file else None
    try:
        doc = _load(file)
        expected = _signer(signer)
        if doc.get("version") == E2E_RECEIPT_VERSION:
            signed_e2e = SignedE2EReceipt.from_json(doc)
            receipt: Receipt | E2EReceipt = signed_e2e.verify(expected or signed_e2e.signer)
            signed_by = signed_e2e.signer
            _check_e2e(signed_e2e.receipt, evidence_file, request, response)
        else:
            if evidence_file is not None:
                raise ReceiptError("--e2e is for end-to-end (version 2) receipts; this one is plaintext")
            signed = SignedReceipt.from_json(doc)
            receipt = signed.verify(expected)
            signed_by = signed.signer
            check_hashes(signed.receipt, request=request, response=response)
    except ReceiptError as exc:
        click.echo(f"FAIL: {exc}")
        sys.exit(1)
    checked = [name for name, given in (("request", request_file), ("response", response_file)) if given]
    click.echo(
        f"OK: request {receipt.request_id} on {receipt.model_id}: {receipt.prompt_tokens} prompt + "
        f"{receipt.completion_tokens} completion tokens at coefficient {receipt.coefficient}, signed by "
        f"{signed_by.hex()}"
        + (
            "; end-to-end: the envelope and frames it signs open with the kept secret"
            if evidence_file
            else ""
        )
        + (f"; {' and '.join(checked)} bytes match" if checked else "")
    )


def _check_e2e(
    receipt: Any, evidence_file: Path | None, request: bytes | None, response: bytes | None
) -> None:
    """An end-to-end receipt signs ciphertext: the evidence must match it and open to the given bytes."""
    if evidence_file is None:
        if request is not None or response is not None:
            raise ReceiptError(
                "an end-to-end receipt signs the ciphertext: pass --e2e <request_id>.e2e to check the "
                "request or response bytes against it"
            )
        return
    body, answer = open_evidence(receipt, Evidence.decode(evidence_file.read_bytes()))
    if request is not None and request != body:
        raise ReceiptError("the request file is not the request the envelope opens to")
    if response is not None and response != answer:
        raise ReceiptError(
            "the response bytes are not what the signed frames open to: the answer was altered "
            "(or these are not the bytes the worker delivered)"
        )


def _load(file: Path) -> dict[str, Any]:
    try:
        doc = json.loads(file.read_bytes())
    except ValueError as exc:
        raise ReceiptError(f"{file} is not JSON: {exc}") from exc
    if isinstance(doc, dict) and isinstance(doc.get("receipt"), dict):
        doc = doc["receipt"]  # a whole response body carrying its receipt
    if not isinstance(doc, dict):
        raise ReceiptError("a receipt must be a JSON object")
    return doc


def _signer(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ReceiptError(f"--signer {text!r} is not hex") from exc
