"""Cost of attested answers: statement and receipt signing/verification, and hashing the answer bytes.

    .venv/bin/python benchmarks/bench_receipt.py

Prints per-operation times (median of several rounds) and what one receipt adds to an answer: the
worker signs once, the client verifies once, and both hash the response bytes.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from timing import per_call

from cocoon.attestation.gpu import FakeGpuEvidence
from cocoon.attestation.receipt import Receipt, SignedReceipt, sign_receipt
from cocoon.attestation.statement import make_statement, model_hash, sign_statement, verify_statement


def main() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    statement = make_statement(
        1_750_000_000,
        model_id="Qwen3-8B",
        model_hash=model_hash("Qwen3-8B"),
        gpu=FakeGpuEvidence().evidence(),
    )
    signed_statement = sign_statement(statement, key)
    receipt = Receipt(1, "0123456789abcdef", b"\x01" * 32, b"\x02" * 32, "Qwen3-8B", 500, 0, 300, 0, 1000, 1)
    wire = sign_receipt(receipt, key).encode()
    answer = b"x" * (1 << 20)

    rows = [
        ("statement sign", per_call(lambda: sign_statement(statement, key), 500)),
        ("statement verify", per_call(lambda: verify_statement(signed_statement, public), 500)),
        ("receipt sign (worker)", per_call(lambda: sign_receipt(receipt, key).encode(), 500)),
        ("receipt verify (client)", per_call(lambda: SignedReceipt.decode(wire).verify(public), 500)),
        ("sha256 of 1 MiB answer", per_call(lambda: hashlib.sha256(answer).digest(), 20)),
    ]
    for name, seconds in rows:
        print(f"{name:28s} {seconds * 1e6:9.1f} us")
    sign_us, verify_us = rows[2][1] * 1e6, rows[3][1] * 1e6
    print(f"statement bytes              {len(signed_statement):6d} B (in the certificate)")
    print(f"receipt bytes on the wire    {len(wire):6d} B (in AnswerEnd)")
    print(
        f"per answer: worker +{sign_us:.0f} us, client +{verify_us:.0f} us (ratio {verify_us / sign_us:.2f})"
    )


if __name__ == "__main__":
    main()
