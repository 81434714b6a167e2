"""Human-readable facts of DCAP collateral (for ``cocoon attest collateral show``): who signed it,
which platform it covers, its dates and whether it is usable at a given time (pure; ``at`` passed in)."""

from __future__ import annotations

import json
from typing import Any

from cryptography import x509

from cocoon.attestation.dcap import Collateral, format_utc, parse_utc
from cocoon.errors import CollateralError


def describe_collateral(c: Collateral, at: int) -> list[tuple[str, str]]:
    """(label, value) rows: signers, FMSPC, TCB info and QE identity dates, CRLs, validity at ``at``."""
    try:
        tcb = json.loads(c.value.tcb_info)
        qe = json.loads(c.value.qe_identity)
        pck_crl = x509.load_der_x509_crl(bytes(c.value.pck_crl))
        root_crl = x509.load_der_x509_crl(bytes(c.value.root_ca_crl))
        tcb_chain = _subjects(c.value.tcb_info_issuer_chain)
        crl_chain = _subjects(c.value.pck_crl_issuer_chain)
    except (ValueError, TypeError) as exc:
        raise CollateralError(f"collateral is malformed ({exc}); fetch it again from a PCCS") from exc
    return [
        ("fmspc", c.fmspc or "(none)"),
        (
            "tcb info",
            f"{tcb.get('id', '?')} v{tcb.get('version', '?')}, evaluation data number "
            f"{tcb.get('tcbEvaluationDataNumber', '?')}, {len(tcb.get('tcbLevels', []))} TCB levels",
        ),
        ("tcb info signed by", " <- ".join(tcb_chain)),
        ("tcb info issued", _date(tcb, "issueDate")),
        ("tcb info next update", _date(tcb, "nextUpdate")),
        ("qe identity", f"{qe.get('id', '?')} v{qe.get('version', '?')}"),
        ("qe identity issued", _date(qe, "issueDate")),
        ("qe identity next update", _date(qe, "nextUpdate")),
        ("pck crl", f"by {' <- '.join(crl_chain)}; {_crl(pck_crl)}"),
        ("root ca crl", f"by {_cn(root_crl.issuer)}; {_crl(root_crl)}"),
        ("usable", f"{format_utc(c.issued_at)} .. {format_utc(c.next_update)} (earliest next update)"),
        (f"at {format_utc(at)}", validity_at(c, at)),
    ]


def validity_at(c: Collateral, at: int) -> str:
    """``valid`` or why not, at Unix time ``at``."""
    if at < c.issued_at:
        return f"NOT valid: issued later, at {format_utc(c.issued_at)}"
    if at >= c.next_update:
        return f"NOT valid: expired at {format_utc(c.next_update)}; fetch fresh collateral"
    return f"valid (for {(c.next_update - at) / 86400:.1f} more days)"


def _subjects(pem: str) -> list[str]:
    return [_cn(cert.subject) for cert in x509.load_pem_x509_certificates(pem.encode())]


def _cn(name: x509.Name) -> str:
    names = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else name.rfc4514_string()


def _date(doc: dict[str, Any], key: str) -> str:
    text = doc.get(key)
    return format_utc(parse_utc(text)) if isinstance(text, str) else "(missing)"


def _crl(crl: x509.CertificateRevocationList) -> str:
    nxt = crl.next_update_utc
    when = format_utc(nxt.timestamp()) if nxt is not None else "(none)"
    return (
        f"{len(list(crl))} revoked, issued {format_utc(crl.last_update_utc.timestamp())}, next update {when}"
    )
