"""The OpenSSL side of RA-TLS: a TLS 1.3-only context and the verify callback (spec/attestation.md).

RA-TLS certificates always fail OpenSSL's standard checks with "self signed" (18) and "unhandled
critical extension" (34): the callback tolerates exactly those at depth 0, and nothing else (expired,
not yet valid, bad signature, chains). The attestation itself is judged after the handshake by a
`Policy` (see `cocoon.net.tls`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from cryptography import x509
from OpenSSL import SSL

from cocoon.attestation.identity import NodeIdentity

CIPHERSUITES = b"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
# OpenSSL verify errors that RA-TLS certificates always raise and that we therefore tolerate at depth 0.
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION = 34
TOLERATED_VERIFY_ERRORS = frozenset(
    {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION}
)
_VERIFY_ERROR_NAMES = {
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    13: "format error in certificate's notBefore field",
    14: "format error in certificate's notAfter field",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    22: "certificate chain too long",
}


@dataclass
class VerifyState:
    """Per-connection record of why OpenSSL's verification refused the peer (read after a failure)."""

    error: str | None = None


def _verify_callback(conn: SSL.Connection, cert: object, errnum: int, depth: int, ok: int) -> bool:
    state: VerifyState = conn.get_app_data()
    if depth != 0:
        state.error = "peer sent a certificate chain; RA-TLS allows only one self-signed certificate"
        return False
    if ok or errnum in TOLERATED_VERIFY_ERRORS:
        return True
    name = _VERIFY_ERROR_NAMES.get(errnum, "certificate verification error")
    state.error = f"{name} (X509 error {errnum})"
    return False


def build_context(identity: NodeIdentity) -> SSL.Context:
    """A TLS 1.3-only context presenting ``identity``'s current certificate and requiring the peer's."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_tls13_ciphersuites(CIPHERSUITES)
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.use_certificate(x509.load_der_x509_certificate(identity.certificate.der))
    ctx.use_privatekey(identity.private_key)
    ctx.check_privatekey()
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify_callback)
    ctx.set_verify_depth(1)
    return ctx


# One context per (identity, certificate): building one costs ~0.25 ms CPU, a tenth of a handshake.
_contexts: weakref.WeakKeyDictionary[NodeIdentity, tuple[bytes, SSL.Context]] = weakref.WeakKeyDictionary()


def context_for(identity: NodeIdentity) -> SSL.Context:
    fingerprint = identity.certificate.fingerprint
    cached = _contexts.get(identity)
    if cached is None or cached[0] != fingerprint:
        cached = (fingerprint, build_context(identity))
        _contexts[identity] = cached
    return cached[1]


def ssl_reason(exc: SSL.Error) -> str:
    """OpenSSL's error queue as one readable string."""
    parts = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [str(p[2]) for p in parts if isinstance(p, tuple) and len(p) == 3 and p[2]]
    return "; ".join(reasons) or str(exc) or type(exc).__name__
