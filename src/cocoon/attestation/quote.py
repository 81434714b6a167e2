"""TDX quote parsing (v4 and v5, ECDSA-P256, QE certification data with a PEM PCK chain).

Layout (spec/attestation.md, Intel DCAP "Quote Format"), all little-endian::

    header 48 | [v5: body_type u16, body_size u32] | TD report body 584 (TDX 1.0) or 648 (TDX 1.5)
    | sig_data_len u32 | ecdsa_signature 64 | attestation_key 64
    | cert_data_type u16 (=6) | cert_data_size u32
    |   qe_report 384 | qe_report_signature 64 | qe_auth_size u16 | qe_auth_data
    |   cert_data_type u16 (=5) | cert_data_size u32 | PCK certificate chain (PEM)
    | zero padding

The signed part is everything before ``sig_data_len``. Real quotes as produced by the quoting enclave
may be followed by zero padding (both vectors carry 70 zero bytes after the used part: the QGS
returns a fixed-size buffer). We accept any amount of zero padding up to the size limit and reject a
non-zero byte after the used part, because it would be unauthenticated data riding along the quote.

Parsing is pure and does no cryptography; :mod:`cocoon.attestation.quote_verify` checks signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.attestation.measurements import TdMeasurements
from cocoon.attestation.quote_reader import Cursor
from cocoon.errors import DecodeError

MAX_QUOTE_SIZE = 32 * 1024
"""Largest quote we accept (the reference's limit for the certificate extension)."""

HEADER_SIZE = 48
TDX_TEE_TYPE = 0x81
ECDSA_P256_KEY_TYPE = 2
BODY_TYPE_TDX10 = 2
BODY_TYPE_TDX15 = 3
TDX10_BODY_SIZE = 584
TDX15_BODY_SIZE = 648
QE_REPORT_SIZE = 384
CERT_TYPE_QE_REPORT = 6
CERT_TYPE_PCK_CHAIN = 5


@dataclass(frozen=True, slots=True)
class QuoteHeader:
    """The 48-byte quote header."""

    version: int
    att_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes


@dataclass(frozen=True, slots=True)
class TdReportBody:
    """The TD report body: TCB/SEAM fields plus the measurements (incl. attributes and reportdata)."""

    body_type: int
    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    xfam: bytes
    measurements: TdMeasurements
    tee_tcb_svn2: bytes | None = None
    mr_servicetd: bytes | None = None


@dataclass(frozen=True, slots=True)
class QeReport:
    """The quoting enclave's SGX report body (384 bytes); ``raw`` is what the PCK key signed."""

    raw: bytes
    cpu_svn: bytes
    misc_select: int
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    isv_prod_id: int
    isv_svn: int
    report_data: bytes


@dataclass(frozen=True, slots=True)
class QuoteSignature:
    """The ECDSA signature section with its QE certification data."""

    ecdsa_signature: bytes
    attestation_key: bytes
    qe_report: QeReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_chain_pem: bytes


@dataclass(frozen=True, slots=True)
class Quote:
    """A parsed TDX quote; ``signed_bytes`` is the part covered by the attestation key's signature."""

    raw: bytes
    header: QuoteHeader
    body: TdReportBody
    signature: QuoteSignature
    signed_bytes: bytes
    used_size: int

    @property
    def measurements(self) -> TdMeasurements:
        """The TD's measurements, attributes and reportdata."""
        return self.body.measurements


def parse_quote(raw: bytes) -> Quote:
    """Parse a TDX quote v4/v5; raises DecodeError naming the field and offset of the first problem."""
    if len(raw) > MAX_QUOTE_SIZE:
        raise DecodeError(
            f"quote: {len(raw)} bytes exceeds the {MAX_QUOTE_SIZE}-byte limit; not a TDX quote we accept"
        )
    cur = Cursor(bytes(raw))
    header = _header(cur)
    body = _body(cur, header.version)
    signed_end = cur.offset
    sig_block = cur.block(cur.u32("sig_data_len"), "signature data")
    signature = _signature(sig_block)
    used = cur.offset
    padding = cur.take(cur.remaining, "padding")
    if any(padding):
        first = used + next(i for i, b in enumerate(padding) if b)
        raise cur.fail("padding", "has a non-zero byte after the signature data", first)
    return Quote(
        raw=bytes(raw),
        header=header,
        body=body,
        signature=signature,
        signed_bytes=bytes(raw[:signed_end]),
        used_size=used,
    )


def _header(cur: Cursor) -> QuoteHeader:
    version = cur.u16("version", (4, 5))
    key_type = cur.u16("att_key_type", (ECDSA_P256_KEY_TYPE,))
    tee_type = cur.u32("tee_type", (TDX_TEE_TYPE,))
    return QuoteHeader(
        version=version,
        att_key_type=key_type,
        tee_type=tee_type,
        qe_svn=cur.u16("qe_svn"),
        pce_svn=cur.u16("pce_svn"),
        qe_vendor_id=cur.take(16, "qe_vendor_id"),
        user_data=cur.take(20, "user_data"),
    )


def _body(cur: Cursor, version: int) -> TdReportBody:
    if version == 4:
        return _td_report(cur.block(TDX10_BODY_SIZE, "td report body"), BODY_TYPE_TDX10)
    body_type = cur.u16("body_type", (BODY_TYPE_TDX10, BODY_TYPE_TDX15))
    expected = TDX10_BODY_SIZE if body_type == BODY_TYPE_TDX10 else TDX15_BODY_SIZE
    size = cur.u32("body_size", (expected,))
    return _td_report(cur.block(size, "td report body"), body_type)


def _td_report(cur: Cursor, body_type: int) -> TdReportBody:
    tee_tcb_svn = cur.take(16, "tee_tcb_svn")
    mr_seam = cur.take(48, "mr_seam")
    mr_signer_seam = cur.take(48, "mr_signer_seam")
    seam_attributes = cur.take(8, "seam_attributes")
    td_attributes = cur.take(8, "td_attributes")
    xfam = cur.take(8, "xfam")
    regs = {name: cur.take(48, name) for name in _MEASUREMENT_FIELDS}
    report_data = cur.take(64, "report_data")
    svn2 = cur.take(16, "tee_tcb_svn2") if body_type == BODY_TYPE_TDX15 else None
    servicetd = cur.take(48, "mr_servicetd") if body_type == BODY_TYPE_TDX15 else None
    cur.finish("td report body")
    measurements = TdMeasurements(**regs, report_data=report_data, td_attributes=td_attributes)
    return TdReportBody(
        body_type=body_type,
        tee_tcb_svn=tee_tcb_svn,
        mr_seam=mr_seam,
        mr_signer_seam=mr_signer_seam,
        seam_attributes=seam_attributes,
        xfam=xfam,
        measurements=measurements,
        tee_tcb_svn2=svn2,
        mr_servicetd=servicetd,
    )


_MEASUREMENT_FIELDS = (
    "mr_td",
    "mr_config_id",
    "mr_owner",
    "mr_owner_config",
    "rtmr0",
    "rtmr1",
    "rtmr2",
    "rtmr3",
)


def _signature(cur: Cursor) -> QuoteSignature:
    ecdsa_signature = cur.take(64, "ecdsa_signature")
    attestation_key = cur.take(64, "attestation_key")
    cur.u16("cert_data_type", (CERT_TYPE_QE_REPORT,))
    cert = cur.block(cur.u32("cert_data_size"), "qe certification data")
    cur.finish("signature data")
    qe_report = _qe_report(cert.block(QE_REPORT_SIZE, "qe_report"))
    qe_report_signature = cert.take(64, "qe_report_signature")
    qe_auth_data = cert.take(cert.u16("qe_auth_data_size"), "qe_auth_data")
    cert.u16("pck_cert_data_type", (CERT_TYPE_PCK_CHAIN,))
    pem = cert.take(cert.u32("pck_cert_data_size"), "pck_cert_chain")
    cert.finish("qe certification data")
    return QuoteSignature(
        ecdsa_signature=ecdsa_signature,
        attestation_key=attestation_key,
        qe_report=qe_report,
        qe_report_signature=qe_report_signature,
        qe_auth_data=qe_auth_data,
        pck_chain_pem=pem,
    )


def _qe_report(cur: Cursor) -> QeReport:
    start = cur.offset
    cpu_svn = cur.take(16, "qe_report.cpu_svn")
    misc_select = cur.u32("qe_report.misc_select")
    cur.take(28, "qe_report.reserved1")
    attributes = cur.take(16, "qe_report.attributes")
    mr_enclave = cur.take(32, "qe_report.mr_enclave")
    cur.take(32, "qe_report.reserved2")
    mr_signer = cur.take(32, "qe_report.mr_signer")
    cur.take(96, "qe_report.reserved3")
    isv_prod_id = cur.u16("qe_report.isv_prod_id")
    isv_svn = cur.u16("qe_report.isv_svn")
    cur.take(60, "qe_report.reserved4")
    report_data = cur.take(64, "qe_report.report_data")
    cur.finish("qe_report")
    return QeReport(
        raw=cur.since(start),
        cpu_svn=cpu_svn,
        misc_select=misc_select,
        attributes=attributes,
        mr_enclave=mr_enclave,
        mr_signer=mr_signer,
        isv_prod_id=isv_prod_id,
        isv_svn=isv_svn,
        report_data=report_data,
    )
