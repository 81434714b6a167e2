"""`cocoon attest`: inspect, verify (exit code and one-line reason) and gen-cert, through the real entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.issue import issue_certificate
from cocoon.attestation.quote import parse_quote
from cocoon.cli.main import main

AT = "2025-06-19T11:16:03Z"
DCAP_HASH = "b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["attest", *map(str, args)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def paths(vectors) -> dict[str, Path]:
    names = {
        "cocoon": "cocoon-tdx-quote.dat",
        "dcap": "dcap-tdx-quote.bin",
        "coll": "dcap-tdx-quote-collateral.json",
    }
    return {key: vectors.path(name) for key, name in names.items()}


def test_inspect_quote(capsys, paths) -> None:
    code, out, _ = run(capsys, "inspect", paths["cocoon"])
    assert code == 0
    assert "04b3afd931d28680af91a15b09d672c40ad6b141f7f9089a8d67d595220f7436" in out
    assert "mr_td            7357a10d2e2724df" in out
    assert "debug TD         no" in out
    assert "Intel SGX Root CA" in out and "fmspc            90C06F000000" in out


def test_inspect_certificate_with_real_quote(capsys, paths, tmp_path: Path) -> None:
    cert = issue_certificate(Ed25519PrivateKey.generate(), quote=paths["dcap"].read_bytes(), now=0, serial=1)
    pem = tmp_path / "peer.pem"
    pem.write_bytes(x509.load_der_x509_certificate(cert.der).public_bytes(serialization.Encoding.PEM))
    code, out, _ = run(capsys, "inspect", pem)
    assert code == 0
    assert "RA-TLS, self-signed Ed25519" in out and "NOT valid now" in out
    assert "quote bound to key  NO" in out  # a quote from another machine
    assert DCAP_HASH in out


def test_verify_ok_in_window(capsys, paths) -> None:
    code, out, _ = run(capsys, "verify", paths["dcap"], "--collateral", paths["coll"], "--at", AT)
    assert code == 0
    assert out.startswith("OK TCB UpToDate") and DCAP_HASH in out
    assert "valid until 2025-07-19T10:00:35Z" in out


def test_verify_expired_today(capsys, paths) -> None:
    code, out, err = run(capsys, "verify", paths["dcap"], "--collateral", paths["coll"], "--at", "2026-11-22")
    assert code == 1 and out == ""
    assert err.startswith("error: collateral expired at 2025-07-19") and err.count("\n") == 1


def test_verify_image_hash_not_allowed(capsys, paths) -> None:
    args = ("verify", paths["dcap"], "--collateral", paths["coll"], "--at", AT)
    code, _, err = run(capsys, *args, "--image-hash", "00" * 32)
    assert code == 1 and f"image hash {DCAP_HASH} not allowed" in err
    assert run(capsys, *args, "--image-hash", DCAP_HASH)[0] == 0


def test_verify_status_not_accepted(capsys, paths) -> None:
    args = (
        "verify",
        paths["dcap"],
        "--collateral",
        paths["coll"],
        "--at",
        AT,
        "--accept-status",
        "OutOfDate",
    )
    code, _, err = run(capsys, *args)
    assert code == 1 and "TCB status UpToDate is not accepted" in err


def test_verify_certificate_checks_binding(capsys, paths, tmp_path: Path) -> None:
    cert = issue_certificate(
        Ed25519PrivateKey.generate(), quote=paths["dcap"].read_bytes(), now=1750331000, serial=1
    )
    der = tmp_path / "peer.der"
    der.write_bytes(cert.der)
    code, _, err = run(capsys, "verify", der, "--collateral", paths["coll"], "--at", AT)
    assert code == 1 and "reportdata is not SHA-512 of the certificate key" in err


def test_verify_offline(capsys, paths, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "verify", paths["cocoon"], "--offline", "--at", "2026-11-22")
    assert code == 0 and out.startswith("OK offline")
    tampered = bytearray(paths["cocoon"].read_bytes())
    tampered[300] ^= 1
    bad = tmp_path / "bad.dat"
    bad.write_bytes(bytes(tampered))
    code, _, err = run(capsys, "verify", bad, "--offline", "--at", "2026-11-22")
    assert code == 1 and "quote signature does not verify" in err


def test_verify_needs_a_collateral_source(capsys, paths) -> None:
    code, _, err = run(capsys, "verify", paths["dcap"])
    assert code == 1 and "--collateral FILE or --pccs URL" in err


def test_verify_bad_time(capsys, paths) -> None:
    code, _, err = run(capsys, "verify", paths["dcap"], "--offline", "--at", "yesterday")
    assert code == 1 and "--at 'yesterday'" in err


def test_verify_unreachable_pccs(capsys, paths) -> None:
    code, _, err = run(capsys, "verify", paths["dcap"], "--pccs", "http://127.0.0.1:9")
    assert code == 1 and err.startswith("error: PCCS http://127.0.0.1:9 gave no collateral")


def test_gen_cert_fake_then_inspect(capsys, tmp_path: Path) -> None:
    out_prefix = tmp_path / "node"
    code, out, _ = run(capsys, "gen-cert", out_prefix)
    assert code == 0 and "provider fake" in out
    assert (tmp_path / "node_key.pem").stat().st_mode & 0o777 == 0o600
    code, out, _ = run(capsys, "inspect", tmp_path / "node_cert.pem")
    assert code == 0 and "quote bound to key  yes" in out and "fake quote" in out


def test_gen_cert_tdx_outside_a_td(capsys, tmp_path: Path) -> None:
    code, _, err = run(
        capsys, "gen-cert", tmp_path / "n", "--provider", "tdx", "--tsm-root", tmp_path / "none"
    )
    assert code == 1 and "run inside a TDX guest" in err


def test_verify_rtmrs_and_key_binding(capsys, paths) -> None:
    m = parse_quote(paths["cocoon"].read_bytes()).measurements
    base = ("verify", paths["cocoon"], "--offline", "--at", "2026-11-22")
    assert run(capsys, *base, "--rtmrs", ",".join(r.hex() for r in m.rtmrs))[0] == 0
    code, _, err = run(capsys, *base, "--rtmrs", ",".join(["00" * 48] * 4))
    assert code == 1 and "RTMR set not allowed" in err
    code, _, err = run(capsys, *base, "--key", "11" * 32)
    assert code == 1 and "reportdata is not SHA-512 of the given key" in err
    code, _, err = run(capsys, *base, "--rtmrs", "00")
    assert code == 1 and "four comma-separated" in err
