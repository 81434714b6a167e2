"""Human-readable fields of a parsed TDX quote (for ``cocoon attest inspect`` and logs)."""

from __future__ import annotations

from cryptography import x509

from cocoon.attestation.dcap import quote_fmspc
from cocoon.attestation.quote import Quote
from cocoon.attestation.quote_verify import load_pck_chain
from cocoon.errors import QuoteError

_BODY_NAMES = {2: "TDX 1.0", 3: "TDX 1.5"}


def describe_quote(q: Quote) -> list[tuple[str, str]]:
    """(label, value) rows: layout, image hash, debug flag, measurements, TCB, QE and PCK chain."""
    m, b, h = q.measurements, q.body, q.header
    layout = f"TDX v{h.version} ({_BODY_NAMES[b.body_type]} body), {len(q.raw)} bytes"
    padding = len(q.raw) - q.used_size
    rows = [
        ("quote", f"{layout} ({padding} zero padding)"),
        ("image hash", m.image_hash.hex()),
        ("debug TD", "YES (not confidential)" if m.is_debug else "no"),
        ("td_attributes", m.td_attributes.hex()),
        ("xfam", b.xfam.hex()),
        ("mr_td", m.mr_td.hex()),
        ("mr_config_id", m.mr_config_id.hex()),
        ("mr_owner", m.mr_owner.hex()),
        ("mr_owner_config", m.mr_owner_config.hex()),
        *((f"rtmr{i}", r.hex()) for i, r in enumerate(m.rtmrs)),
        ("report_data", m.report_data.hex()),
        ("tee_tcb_svn", b.tee_tcb_svn.hex()),
        ("mr_seam", b.mr_seam.hex()),
        ("qe_vendor_id", h.qe_vendor_id.hex()),
        ("qe mr_enclave", q.signature.qe_report.mr_enclave.hex()),
        ("qe isv_svn", str(q.signature.qe_report.isv_svn)),
    ]
    if b.mr_servicetd is not None and b.tee_tcb_svn2 is not None:
        rows += [("tee_tcb_svn2", b.tee_tcb_svn2.hex()), ("mr_servicetd", b.mr_servicetd.hex())]
    return rows + _pck_rows(q)


def _pck_rows(q: Quote) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    try:
        rows.append(("fmspc", quote_fmspc(q.raw)))
        for cert in load_pck_chain(q.signature.pck_chain_pem):
            name = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            label = str(name[0].value) if name else cert.subject.rfc4514_string()
            rows.append(("pck chain", f"{label} (until {cert.not_valid_after_utc:%Y-%m-%d})"))
    except QuoteError as exc:
        rows.append(("pck chain", f"unreadable: {exc}"))
    return rows
