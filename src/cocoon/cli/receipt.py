"""`cocoon receipt verify FILE`: check a worker's signed receipt offline.

FILE is a receipt in JSON (``GET /v1/receipts/{request_id}``, a ``<request_id>.json`` from the client's
``receipts_dir``, or a response body that carries a ``receipt`` field). The signature is checked with the
signer key the receipt names (``--signer`` requires a particular key, e.g. the attested worker key);
``--request`` / ``--response`` also check the SHA-256 of the exact bytes the worker signed. One line
says the verdict; the exit status is 0 when everything holds, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cocoon.attestation.receipt import SignedReceipt, check_hashes
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
def verify(file: Path, request_file: Path | None, response_file: Path | None, signer: str | None) -> None:
    """Check a receipt's signature and, if given, the hashes of the request and response files."""
    try:
        signed = _load(file)
        expected = _signer(signer)
        receipt = signed.verify(expected)
        check_hashes(
            receipt,
            request=request_file.read_bytes() if request_file else None,
            response=response_file.read_bytes() if response_file else None,
        )
    except ReceiptError as exc:
        click.echo(f"FAIL: {exc}")
        sys.exit(1)
    checked = [name for name, given in (("request", request_file), ("response", response_file)) if given]
    click.echo(
        f"OK: request {receipt.request_id} on {receipt.model_id}: {receipt.prompt_tokens} prompt + "
        f"{receipt.completion_tokens} completion tokens at coefficient {receipt.coefficient}, signed by "
        f"{signed.signer.hex()}" + (f"; {' and '.join(checked)} bytes match" if checked else "")
    )


def _load(file: Path) -> SignedReceipt:
    try:
        doc = json.loads(file.read_bytes())
    except ValueError as exc:
        raise ReceiptError(f"{file} is not JSON: {exc}") from exc
    if isinstance(doc, dict) and isinstance(doc.get("receipt"), dict):
        doc = doc["receipt"]  # a whole response body carrying its receipt
    return SignedReceipt.from_json(doc)


def _signer(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ReceiptError(f"--signer {text!r} is not hex") from exc
