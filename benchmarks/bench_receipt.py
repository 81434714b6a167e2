"""Cost of attested answers: statement and receipt signing/verification, and hashing the answer bytes.

    .venv/bin/python benchmarks/bench_receipt.py

Prints per-operation times (median of several rounds) and what one receipt adds to an answer: the
worker signs once, the client verifies once, and both hash the response bytes. For an end-to-end
answer's v2 receipt, the client's whole check both ways side by side (interleaved rounds): by the
signature, and by the tag the worker puts over it (`cocoon.attestation.receipt_e2e`).
"""

from __future__ import annotations

import argparse
import hashlib
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from timing import paired, per_call

from cocoon.attestation.gpu import FakeGpuEvidence
from cocoon.attestation.receipt import Receipt, SignedReceipt, sign_receipt
from cocoon.attestation.receipt_e2e import (
    E2EExpectation,
    E2EReceipt,
    FramesSeen,
    SignedE2EReceipt,
    sign_e2e_receipt,
)
from cocoon.attestation.statement import make_statement, model_hash, sign_statement, verify_statement
from cocoon.e2e.envelope import RequestSecret
from cocoon.e2e.frames import FrameOpener, FrameSealer
from cocoon.usage import Usage


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure and print; returns µs per call by operation."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=500, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians over them)")
    args = parser.parse_args(argv)
    n, rounds = args.n, args.rounds
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

    hashing = max(1, n // 25)  # 1 MiB per call
    rows = [
        ("statement sign", per_call(lambda: sign_statement(statement, key), n, rounds)),
        ("statement verify", per_call(lambda: verify_statement(signed_statement, public), n, rounds)),
        ("receipt sign (worker)", per_call(lambda: sign_receipt(receipt, key).encode(), n, rounds)),
        ("receipt verify (client)", per_call(lambda: SignedReceipt.decode(wire).verify(public), n, rounds)),
        ("sha256 of 1 MiB answer", per_call(lambda: hashlib.sha256(answer).digest(), hashing, rounds)),
    ]
    for name, seconds in rows:
        print(f"{name:28s} {seconds * 1e6:9.1f} us")
    sign_us, verify_us = rows[2][1] * 1e6, rows[3][1] * 1e6
    print(f"statement bytes              {len(signed_statement):6d} B (in the certificate)")
    print(f"receipt bytes on the wire    {len(wire):6d} B (in AnswerEnd)")
    print(
        f"per answer: worker +{sign_us:.0f} us, client +{verify_us:.0f} us (ratio {verify_us / sign_us:.2f})"
    )
    found = {name: seconds * 1e6 for name, seconds in rows}
    found.update(_end_to_end(key, n, rounds))
    return found


def _end_to_end(key: Ed25519PrivateKey, n: int, rounds: int) -> dict[str, float]:
    """A v2 receipt: the worker signs and tags it; the client checks it by the signature or by the tag."""
    secret, rn = RequestSecret(os.urandom(32), os.urandom(32)), os.urandom(32)
    sealer, opener = FrameSealer(secret, rn), FrameOpener(secret, rn)
    usage = Usage(prompt_tokens=500, completion_tokens=300)
    seen = FramesSeen(b"\x03" * 32, 18, True)
    expected = E2EExpectation("0123456789abcdef", "Qwen3-8B", b"\x01" * 32, b"\x02" * 32, 512, 1)
    receipt = E2EReceipt(2, "0123456789abcdef", 7, "Qwen3-8B", b"\x04" * 8, b"\x01" * 32, b"\x02" * 32,
                         seen.sha256, seen.count, seen.final, 512, 1, 500, 0, 300, 0, 1000, 1)  # fmt: skip
    signed = sign_e2e_receipt(receipt, key)
    public, wire = signed.signer, signed.with_tag(sealer.receipt_tag).encode()

    def by_signature() -> object:
        return SignedE2EReceipt.decode(wire).check(public, expected, seen, usage)

    def by_tag() -> object:
        return SignedE2EReceipt.decode(wire).check(public, expected, seen, usage, tag_of=opener.receipt_tag)

    tag_s = per_call(lambda: signed.with_tag(sealer.receipt_tag), n, rounds)
    signature_s, by_tag_s = paired(by_signature, by_tag, n, rounds)
    print(f"v2 receipt tag (worker)      {tag_s * 1e6:9.1f} us")
    print(
        f"v2 receipt check (client)    {signature_s * 1e6:9.1f} us by signature, "
        f"{by_tag_s * 1e6:.1f} us by tag ({signature_s / by_tag_s:.1f}×, interleaved rounds)"
    )
    return {
        "v2 receipt tag (worker)": tag_s * 1e6,
        "v2 check by signature": signature_s * 1e6,
        "v2 check by tag": by_tag_s * 1e6,
    }


if __name__ == "__main__":
    main()
