"""The verify callback tolerates exactly the two RA-TLS errors at depth 0, and the context is TLS 1.3 only."""

from __future__ import annotations

import os
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from OpenSSL import SSL

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.providers import FakeQuoteProvider
from cocoon.net.tls_context import VerifyState, _verify_callback, build_context


class FakeConn:
    """What the callback uses of an SSL.Connection: the per-connection state."""

    def __init__(self) -> None:
        self.state = VerifyState()

    def get_app_data(self) -> VerifyState:
        return self.state


@pytest.mark.parametrize("errnum", [18, 34])
def test_self_signed_and_unhandled_critical_extension_are_tolerated(errnum: int) -> None:
    conn = FakeConn()
    assert _verify_callback(conn, None, errnum, 0, 0) is True  # type: ignore[arg-type]
    assert conn.state.error is None


@pytest.mark.parametrize(
    ("errnum", "reason"),
    [(10, "certificate has expired"), (9, "not yet valid"), (7, "signature failure"), (99, "error 99")],
)
def test_other_errors_fail_and_say_why(errnum: int, reason: str) -> None:
    conn = FakeConn()
    assert _verify_callback(conn, None, errnum, 0, 0) is False  # type: ignore[arg-type]
    assert conn.state.error is not None and reason in conn.state.error


def test_anything_beyond_depth_zero_fails_even_if_openssl_is_happy() -> None:
    conn = FakeConn()
    assert _verify_callback(conn, None, 0, 1, 1) is False  # type: ignore[arg-type]
    assert conn.state.error is not None and "chain" in conn.state.error
    assert _verify_callback(FakeConn(), None, 0, 0, 1) is True  # type: ignore[arg-type]


def test_context_is_tls13_mutual_depth_one_without_tickets() -> None:
    identity = NodeIdentity.create(Ed25519PrivateKey.generate(), FakeQuoteProvider(), os.urandom, time.time())
    ctx = build_context(identity)
    assert ctx.get_verify_mode() == SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    assert ctx.get_verify_depth() == 1
    assert ctx.get_session_cache_mode() == SSL.SESS_CACHE_OFF
    tls13_suites = [c for c in SSL.Connection(ctx, None).get_cipher_list() if c.startswith("TLS_")]
    assert tls13_suites == ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]  # no ChaCha20, no CCM
