"""`cocoon attest collateral`: get DCAP collateral from a PCCS into a file, show what a file holds,
serve files as a PCCS.

    cocoon attest collateral fetch --pccs URL --quote FILE --out FILE
    cocoon attest collateral show FILE [--at TIME]
    cocoon attest collateral serve FILE... [--host H --port P]

A saved file is what a node's ``collateral_files`` setting loads (QuoteCollateralV3 JSON).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cocoon.attestation.collateral_describe import describe_collateral
from cocoon.attestation.dcap import Collateral, format_utc
from cocoon.cli.attest_input import parse_time, read_file
from cocoon.errors import ConfigError
from cocoon.net.collateral import PccsFetcher, check_pccs_url


@click.group()
def collateral() -> None:
    """Fetch DCAP collateral from a PCCS into a file, show a saved one, or serve saved ones."""


@collateral.command()
@click.option("--pccs", "pccs", metavar="URL", required=True, help="PCCS base URL (Intel's v4 API).")
@click.option(
    "--quote",
    "quote_file",
    type=click.Path(path_type=Path),
    required=True,
    help="A raw TDX quote of the platform (its PCK certificate names the FMSPC).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Where to write the collateral JSON."
)
def fetch(pccs: str, quote_file: Path, out: Path) -> None:
    """Fetch the collateral (CRLs, TCB info, QE identity, issuer chains) for a quote's platform."""
    raw = read_file(quote_file)
    fetched = asyncio.run(PccsFetcher(check_pccs_url(pccs)).fetch(raw))
    try:
        out.write_text(fetched.value.to_json(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(
        f"wrote {out}: collateral for FMSPC {fetched.fmspc}, usable until {format_utc(fetched.next_update)}"
    )


@collateral.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--at", "at", metavar="TIME", help="Say whether it is valid then (Unix seconds or ISO-8601).")
def show(file: Path, at: str | None) -> None:
    """Show a saved collateral file: signers, FMSPC, dates, CRLs and whether it is valid now (or --at)."""
    loaded = Collateral.from_json(read_file(file).decode("utf-8", "replace"))
    rows = describe_collateral(loaded, parse_time(at))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key.ljust(width)}  {value}")


@collateral.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=int, help="Port to listen on (0: any free).")
def serve(files: tuple[Path, ...], host: str, port: int) -> None:
    """Serve saved collateral files (one per FMSPC) over Intel's PCCS v4 API, for nodes' pccs_url.

    Plain HTTP and only what the files hold: for tests, demos and networks without Internet access.
    """
    from cocoon.cli.service_runner import run_until_signal, setup_logging
    from cocoon.net.pccs_server import CollateralPccs

    setup_logging("info", "pccs")
    pccs = CollateralPccs([read_file(f).decode("utf-8", "replace") for f in files], host, port)

    async def main() -> None:
        async with pccs:
            click.echo(f"serving DCAP collateral of FMSPC {', '.join(pccs.fmspcs)} at {pccs.url}")
            await asyncio.Event().wait()

    run_until_signal(main())
