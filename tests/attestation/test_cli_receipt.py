"""`cocoon receipt verify`: signature and byte checks offline, one-line verdict, exit 0/1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.receipt import Receipt, sign_receipt
from cocoon.cli.main import cli

REQUEST = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
RESPONSE = b'{"choices":[{"message":{"content":"hello"}}]}'


def _files(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    key = Ed25519PrivateKey.generate()
    receipt = Receipt(
        1,
        "00ff",
        hashlib.sha256(REQUEST).digest(),
        hashlib.sha256(RESPONSE).digest(),
        "m",
        5,
        0,
        2,
        0,
        1000,
        1,
    )
    signed = sign_receipt(receipt, key)
    paths = tmp_path / "r.json", tmp_path / "r.request", tmp_path / "r.response"
    paths[0].write_text(json.dumps(signed.to_json()))
    paths[1].write_bytes(REQUEST)
    paths[2].write_bytes(RESPONSE)
    return *paths, signed.signer.hex()


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["receipt", "verify", *map(str, args)])
    return result.exit_code, result.output


def test_a_valid_receipt_with_its_bytes_passes(tmp_path: Path) -> None:
    receipt, request, response, signer = _files(tmp_path)
    code, out = _run(receipt, "--request", request, "--response", response, "--signer", signer)
    assert code == 0, out
    assert out.startswith("OK: request 00ff on m: 5 prompt + 2 completion tokens") and out.count("\n") == 1
    assert "request and response bytes match" in out


def test_one_changed_response_byte_fails(tmp_path: Path) -> None:
    receipt, _, response, _ = _files(tmp_path)
    data = bytearray(response.read_bytes())
    data[3] ^= 0x20
    response.write_bytes(bytes(data))
    code, out = _run(receipt, "--response", response)
    assert code == 1
    assert out.startswith("FAIL: the response bytes do not match")


def test_a_tampered_field_or_another_signer_fails(tmp_path: Path) -> None:
    receipt, _, _, _ = _files(tmp_path)
    doc = json.loads(receipt.read_text())
    code, out = _run(receipt, "--signer", "00" * 32)
    assert (code, out.split(":")[0]) == (1, "FAIL")
    doc["completion_tokens"] = 20
    receipt.write_text(json.dumps({"id": "x", "receipt": doc}))  # also accepts a whole response body
    code, out = _run(receipt)
    assert code == 1 and "signature does not verify" in out
