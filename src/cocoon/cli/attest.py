"""`cocoon attest`: inspect and verify TDX quotes and RA-TLS certificates, issue certificates.

    cocoon attest inspect FILE                       fields of a quote or certificate (PEM/DER)
    cocoon attest verify FILE --collateral JSON      full DCAP verification (or --offline / --pccs URL)
    cocoon attest gen-cert --provider fake|tdx OUT   new key + RA-TLS certificate (OUT_cert.pem/_key.pem)
    cocoon attest collateral fetch|show              DCAP collateral from a PCCS, saved; its dates

Failures are our errors: `cocoon.cli.main` prints them as one ``error:`` line and exits with 1.
This is the shell: it reads the clock and files and may reach a PCCS; the checks are the pure core's.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.certificate import RaTlsCertificate, parse_certificate
from cocoon.attestation.claims import REPORT_DATA_SIZE, report_data_for
from cocoon.attestation.dcap import Collateral, DcapVerdict, DcapVerifier
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import Allowlists, QuoteVerdict
from cocoon.attestation.providers import FakeQuoteProvider, QuoteProvider
from cocoon.attestation.quote import Quote, parse_quote
from cocoon.attestation.quote_checks import check_not_debug, check_report_data
from cocoon.attestation.quote_describe import describe_quote
from cocoon.attestation.quote_verify import INTEL_ROOT_KEY_ID, verify_quote_offline
from cocoon.attestation.tdx_policy import CollateralStore, TdxPolicy
from cocoon.attestation.tdx_provider import DEFAULT_TSM_ROOT, ConfigfsTsmProvider
from cocoon.cli.attest_collateral import collateral
from cocoon.cli.attest_input import parse_time as _parse_time
from cocoon.cli.attest_input import read_file as _read
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ConfigError, DecodeError, QuoteError
from cocoon.net.collateral import PccsFetcher


@click.group()
def attest() -> None:
    """Inspect and verify TDX quotes and RA-TLS certificates."""


attest.add_command(collateral)


# ---------------------------------------------------------------- input


def _load(path: Path) -> tuple[RaTlsCertificate | None, bytes]:
    """A certificate (PEM or DER) and its quote, or a raw quote file."""
    data = _read(path)
    der: bytes | None = None
    if data.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
        der = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    elif data[:1] == b"\x30":  # a DER SEQUENCE: a quote starts with version 4/5 instead
        der = data
    if der is None:
        return None, data
    try:
        not_before = x509.load_der_x509_certificate(der).not_valid_before_utc.timestamp()
    except ValueError as exc:
        raise ConfigError(f"{path} looks like a DER certificate but does not parse: {exc}") from exc
    cert = parse_certificate(der, now=not_before)  # structure only; validity is reported separately
    if cert.quote is None:
        return cert, b""
    return cert, cert.quote


def _parse(raw: bytes) -> Quote:
    try:
        return parse_quote(raw)
    except DecodeError as exc:
        raise QuoteError(f"not a TDX quote we can read: {exc}") from exc


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- inspect


@attest.command()
@click.argument("file", type=click.Path(path_type=Path))
def inspect(file: Path) -> None:
    """Show the fields of a TDX quote or an RA-TLS certificate (PEM or DER) and its quote."""
    cert, raw = _load(file)
    if cert is not None:
        _show_cert(cert)
        if not raw:
            return
    if len(raw) == REPORT_DATA_SIZE:
        click.echo(f"fake quote (reportdata only): {raw.hex()}")
        return
    _rows(describe_quote(_parse(raw)))


def _show_cert(cert: RaTlsCertificate, clock: Clock = SYSTEM_CLOCK) -> None:
    now = clock.time()
    state = "valid now" if cert.not_before <= now <= cert.not_after else "NOT valid now"
    rows = [
        ("certificate", "RA-TLS, self-signed Ed25519"),
        ("public key", cert.public_key.hex()),
        ("serial", f"{cert.serial:032x}"),
        ("validity", f"{_iso(cert.not_before)} .. {_iso(cert.not_after)} ({state})"),
        ("sha256", cert.fingerprint.hex()),
        ("statement", f"{len(cert.statement)} bytes"),
        ("quote", f"{len(cert.quote)} bytes" if cert.quote is not None else "none (unattested)"),
    ]
    if cert.quote is not None:
        quoted = cert.quote if len(cert.quote) == REPORT_DATA_SIZE else _report_data(cert.quote)
        bound = quoted == report_data_for(cert.public_key)
        rows.append(("quote bound to key", "yes" if bound else "NO (reportdata != SHA-512(key))"))
    _rows(rows)


def _report_data(raw: bytes) -> bytes:
    try:
        return parse_quote(raw).measurements.report_data
    except DecodeError:
        return b""


def _rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key.ljust(width)}  {value}")


# ---------------------------------------------------------------- verify


@attest.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--collateral", type=click.Path(path_type=Path), help="Saved QuoteCollateralV3 JSON.")
@click.option("--pccs", metavar="URL", help="Fetch collateral from this PCCS instead.")
@click.option("--save-collateral", type=click.Path(path_type=Path), help="Write fetched collateral here.")
@click.option("--offline", is_flag=True, help="Signatures and PCK chain only (no TCB status).")
@click.option("--at", "at", metavar="TIME", help="Verify at this time (Unix seconds or ISO-8601).")
@click.option("--accept-status", multiple=True, help="Accepted TCB status (repeatable; default UpToDate).")
@click.option("--image-hash", multiple=True, help="Allowed image hash, hex (repeatable).")
@click.option("--mrtd", multiple=True, help="Allowed MRTD, hex (repeatable).")
@click.option("--rtmrs", multiple=True, metavar="R0,R1,R2,R3", help="Allowed RTMR set, hex (repeatable).")
@click.option("--key", metavar="HEX", help="Ed25519 key (32 bytes hex) the quote's reportdata must bind.")
def verify(
    file: Path,
    collateral: Path | None,
    pccs: str | None,
    save_collateral: Path | None,
    offline: bool,
    at: str | None,
    accept_status: tuple[str, ...],
    image_hash: tuple[str, ...],
    mrtd: tuple[str, ...],
    rtmrs: tuple[str, ...],
    key: str | None,
) -> None:
    """Verify a quote (or a certificate's quote and its key binding); exit 1 with the reason if not."""
    now = _parse_time(at)
    allow = Allowlists(
        image_hashes=_hexes(image_hash, 32, "--image-hash"),
        mr_tds=_hexes(mrtd, 48, "--mrtd"),
        rtmr_sets=frozenset(_rtmr_set(text) for text in rtmrs),
    )
    bind = next(iter(_hexes((key,), 32, "--key"))) if key else None
    cert, raw = _load(file)
    if offline:
        _verify_offline(raw, now, allow, bind)
        return
    loaded = _collateral(raw, collateral, pccs, save_collateral)
    statuses = frozenset(accept_status) or frozenset({"UpToDate"})
    if cert is not None:
        peer = TdxPolicy(CollateralStore((loaded,)), allow, accepted_statuses=statuses).verify(cert, now)
        click.echo(f"OK certificate accepted by the tdx policy at {_iso(now)}: {peer.describe()}")
        return
    verdict = DcapVerifier(accepted_statuses=statuses).verify(raw, loaded, now)
    check_not_debug(verdict.measurements)
    if bind is not None:
        check_report_data(verdict.measurements, bind)
    allow.check(QuoteVerdict(verdict.measurements, verdict.tcb_status, verdict.root_key_id))
    _print_verdict(verdict)


def _verify_offline(raw: bytes, now: int, allow: Allowlists, bind: bytes | None) -> None:
    quote = _parse(raw)
    result = verify_quote_offline(quote, now)
    check_not_debug(quote.measurements)
    if bind is not None:
        check_report_data(quote.measurements, bind)
    allow.check(QuoteVerdict(quote.measurements, "unknown", result.root_key_id))
    click.echo(
        f"OK offline at {_iso(now)}: quote signature, QE report and PCK chain to Intel's root verify; "
        f"image hash {quote.measurements.image_hash.hex()} (TCB status needs collateral)"
    )


def _print_verdict(v: DcapVerdict) -> None:
    root = "Intel SGX Root CA" if v.root_key_id == INTEL_ROOT_KEY_ID else v.root_key_id.hex()
    advisories = ", ".join(v.advisory_ids) or "none"
    click.echo(
        f"OK TCB {v.tcb_status} (advisories: {advisories}) at {_iso(v.verified_at)}; root {root}; "
        f"image hash {v.measurements.image_hash.hex()}; verdict valid until {_iso(v.valid_until)}"
    )


def _hexes(values: tuple[str, ...], size: int, option: str) -> frozenset[bytes]:
    out = set()
    for text in values:
        try:
            value = bytes.fromhex(text)
        except ValueError as exc:
            raise ConfigError(f"{option} {text!r} is not hex") from exc
        if len(value) != size:
            raise ConfigError(f"{option} must be {size} bytes ({2 * size} hex digits), got {len(value)}")
        out.add(value)
    return frozenset(out)


def _rtmr_set(text: str) -> tuple[bytes, bytes, bytes, bytes]:
    parts = text.split(",")
    if len(parts) != 4:
        raise ConfigError(f"--rtmrs needs four comma-separated hex values (RTMR0..3), got {len(parts)}")
    r0, r1, r2, r3 = (next(iter(_hexes((p,), 48, "--rtmrs"))) for p in parts)
    return (r0, r1, r2, r3)


def _collateral(raw: bytes, path: Path | None, pccs: str | None, save: Path | None) -> Collateral:
    if (path is None) == (pccs is None):
        raise ConfigError("give exactly one of --collateral FILE or --pccs URL (or use --offline)")
    if path is not None:
        return Collateral.from_json(_read(path).decode("utf-8", "replace"))
    assert pccs is not None
    fetched = asyncio.run(PccsFetcher(pccs).fetch(raw))
    if save is not None:
        save.write_text(fetched.value.to_json(), encoding="utf-8")
    return fetched


# ---------------------------------------------------------------- gen-cert


@attest.command("gen-cert")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--provider", type=click.Choice(["fake", "tdx"]), default="fake", show_default=True)
@click.option("--tsm-root", type=click.Path(path_type=Path), default=DEFAULT_TSM_ROOT, show_default=True)
def gen_cert(out: Path, provider: str, tsm_root: Path) -> None:
    """Create a key and an RA-TLS certificate: OUT_cert.pem and OUT_key.pem (mode 0600)."""
    quotes: QuoteProvider = FakeQuoteProvider() if provider == "fake" else ConfigfsTsmProvider(tsm_root)
    key = Ed25519PrivateKey.generate()
    identity = NodeIdentity.create(key, quotes, os.urandom, SYSTEM_CLOCK.time())
    cert = identity.certificate
    cert_path, key_path = Path(f"{out}_cert.pem"), Path(f"{out}_key.pem")
    pem = x509.load_der_x509_certificate(cert.der).public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        cert_path.write_bytes(pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}_*.pem: {exc.strerror}") from exc
    digest = hashlib.sha256(cert.der).hexdigest()
    click.echo(f"wrote {cert_path} (sha256 {digest}) and {key_path}; quote from provider {quotes.name}")
