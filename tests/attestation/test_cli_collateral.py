"""`cocoon attest collateral fetch|show` through the real entry point, against the fake PCCS."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from cocoon.attestation.dcap import Collateral
from cocoon.cli.main import main
from cocoon.net.collateral import PccsFetcher
from fake_pccs import FakePccs

AT = "2025-06-19T11:16:03Z"


def run(*args: str) -> int:
    try:
        main(["attest", "collateral", *map(str, args)])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


async def test_fetch_saves_what_the_pccs_serves(vectors, capsys, tmp_path: Path) -> None:
    text = vectors.text("dcap-tdx-quote-collateral.json")
    quote = vectors.path("dcap-tdx-quote.bin")
    out = tmp_path / "collateral.json"
    async with FakePccs(text) as pccs:
        code = await asyncio.to_thread(run, "fetch", "--pccs", pccs.url + "/", "--quote", quote, "--out", out)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "collateral for FMSPC B0C06F000000, usable until 2025-07-19T10:00:35Z" in captured.out
    saved, original = json.loads(out.read_text()), json.loads(text)
    assert {k: saved[k] for k in original} == original


async def test_fetch_errors_name_the_problem(vectors, capsys, tmp_path: Path) -> None:
    quote = vectors.path("dcap-tdx-quote.bin")
    code = await asyncio.to_thread(
        run, "fetch", "--pccs", "pccs.example", "--quote", quote, "--out", tmp_path / "x"
    )
    assert code == 1 and "must be an http(s):// URL" in capsys.readouterr().err
    async with FakePccs(vectors.text("dcap-tdx-quote-collateral.json")) as pccs:
        pccs.available = False
        code = await asyncio.to_thread(
            run, "fetch", "--pccs", pccs.url, "--quote", quote, "--out", tmp_path / "x"
        )
    assert code == 1 and f"PCCS {pccs.url} gave no collateral" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("at", "verdict"),
    [
        (AT, "valid (for 29.9 more days)"),
        ("2025-07-19T10:00:35Z", "NOT valid: expired at 2025-07-19T10:00:35Z"),
        ("2025-06-19T10:00:00Z", "NOT valid: issued later, at 2025-06-19T10:32:27Z"),
    ],
)
def test_show_dates_and_validity(vectors, capsys, at: str, verdict: str) -> None:
    path = vectors.path("dcap-tdx-quote-collateral.json")
    assert run("show", path, "--at", at) == 0
    out = capsys.readouterr().out
    assert "fmspc                    B0C06F000000" in out
    assert "tcb info signed by       Intel SGX TCB Signing <- Intel SGX Root CA" in out
    assert "tcb info issued          2025-06-19T10:16:03Z" in out
    assert "tcb info next update     2025-07-19T10:16:03Z" in out
    assert "qe identity next update  2025-07-19T10:32:27Z" in out
    assert "next update 2025-07-19T10:00:35Z" in out and "next update 2026-04-03T11:21:57Z" in out
    assert verdict in out


def test_show_refuses_a_file_that_is_not_collateral(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert run("show", bad) == 1
    assert "collateral JSON does not load" in capsys.readouterr().err


async def test_serve_answers_a_pccs_client(vectors, dcap_quote: bytes) -> None:
    path = vectors.path("dcap-tdx-quote-collateral.json")
    argv = [
        sys.executable,
        "-m",
        "cocoon.cli.main",
        "attest",
        "collateral",
        "serve",
        str(path),
        "--port",
        "0",
    ]
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("serving DCAP collateral of FMSPC B0C06F000000 at http://127.0.0.1:"), line
        fetched = await PccsFetcher(line.split(" at ")[1].strip()).fetch(dcap_quote)
        assert fetched.value.tcb_info == Collateral.from_json(path.read_text()).value.tcb_info
    finally:
        process.terminate()
        await process.wait()
