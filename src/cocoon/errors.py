"""The single exception root of the project and its tree.

Every error a user can see derives from :class:`CocoonError` and carries a message that says what went
wrong and what to do. Third-party exceptions are mapped to these at the edge (``raise ... from exc``).

    CocoonError
    ├── ConfigError                  bad configuration or command-line input
    ├── ProtocolError                our wire protocol was violated (h11's meaning of the two kinds)
    │   ├── RemoteProtocolError      what the peer sent violates it (we detected it in its bytes)
    │   │   └── DecodeError          bytes that do not decode (a frame, message, SSE stream, quote)
    │   └── LocalProtocolError       what we were about to send violates it (a bug on our side)
    ├── ConnectionClosedError        the connection is gone (timeout, reset, closed by either side)
    │   └── PeerClosedError          the peer ended or refused the session with a Close and a reason
    ├── RpcError                     a call over an RPC connection did not succeed
    │   ├── RemoteQueryError         the peer answered a control query with an error (code, message)
    │   ├── RpcTimeoutError          the peer did not answer within the timeout
    │   └── RequestCancelledError    an answer stream was cancelled (by us, a slow reader, or closing)
    ├── AttestationError             a peer's certificate or quote is not acceptable
    │   ├── CertificateError         the RA-TLS certificate itself is malformed/expired/unsupported
    │   ├── QuoteError               a TDX quote is malformed or does not verify
    │   │   ├── QuoteSignatureError  the quote or QE report signature (or key binding) is wrong
    │   │   ├── PckChainError        the PCK certificate chain is broken, expired or not Intel's
    │   │   ├── CollateralError      DCAP collateral is missing, malformed or expired
    │   │   └── TcbStatusError       the platform's TCB status is not an accepted one
    │   ├── PolicyError              the attestation is valid but the policy refuses it
    │   ├── StatementError           a signed claims statement is missing, malformed, stale or forged
    │   └── ReceiptError             a signed answer receipt is malformed or does not match the answer
    ├── RequestError                 an API request is rejected (carries HTTP status, type, param)
    ├── E2EError                     an end-to-end envelope or response frame does not open (carries a code)
    ├── EngineError                  the inference engine failed or is unreachable
    │   ├── EngineStatusError        the engine answered with an HTTP error (status, body passed on)
    │   └── EngineTimeoutError       the engine did not answer within the deadline
    ├── PaymentError                 metering, reservation or payment-channel rule broken
    │   ├── InsufficientFundsError   the client cannot cover the reservation
    │   │   └── WalletFundsError     a node wallet holds too little TON (says how much to send, where)
    │   ├── InvalidUsageError        token counts that cannot be (negative, cached > prompt, ...)
    │   └── StateRollbackError       payment state went backwards (restored old database, clone)
    ├── ChainError                   talking to TON (local chain or real) failed
    │   ├── ContractError            a contract rejected a message (carries its exit code)
    │   └── ChainDataError           a cell/BoC from the chain does not have the layout we expect
    └── PlannerError                 a planner input is unknown or out of range
        └── CatalogLookupError       a model, GPU or quantization name is not in the catalog
"""

from __future__ import annotations


class CocoonError(Exception):
    """Root of every error raised by this project."""


class ConfigError(CocoonError):
    """Configuration or command-line input is invalid; the message names the field."""


class ProtocolError(CocoonError):
    """Our wire protocol was violated; the connection must be closed with this reason."""


class RemoteProtocolError(ProtocolError):
    """What the peer sent violates the protocol (as in h11): close the connection with this reason."""


class DecodeError(RemoteProtocolError):
    """Bytes received (or read from a file) do not decode; names the field and offset when known."""


class LocalProtocolError(ProtocolError):
    """What we were about to send violates the protocol (as in h11): a bug or misuse on our side;
    nothing was sent."""


class ConnectionClosedError(CocoonError):
    """The connection was closed (by the peer, by a keepalive timeout, or locally)."""


class PeerClosedError(ConnectionClosedError):
    """The peer ended the session with a ``Close`` and a reason (it refused us, found a protocol error
    in what we sent, or is going away); the message carries its reason."""


class RpcError(CocoonError):
    """A call over an RPC connection (control query or inference stream) did not succeed."""


class RemoteQueryError(RpcError):
    """The peer answered a control query with an error; ``code`` is its machine-readable identifier."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class RpcTimeoutError(RpcError):
    """The peer did not answer within the timeout; it may be overloaded, retry or pick another peer."""


class RequestCancelledError(RpcError):
    """An answer stream was cancelled (locally, because its reader was too slow, or while closing)."""


class AttestationError(CocoonError):
    """A peer's attestation cannot be accepted."""


class CertificateError(AttestationError):
    """The RA-TLS certificate is malformed, expired, not yet valid or has unknown critical extensions."""


class QuoteError(AttestationError):
    """A TDX quote is malformed or its signatures/collateral do not verify."""


class QuoteSignatureError(QuoteError):
    """The quote signature, the QE report signature or the QE report's key binding does not verify."""


class PckChainError(QuoteError):
    """The PCK certificate chain in the quote is malformed, expired or does not end at the pinned root."""


class CollateralError(QuoteError):
    """DCAP collateral is malformed, does not match the quote, or has expired (fetch fresh collateral)."""


class TcbStatusError(QuoteError):
    """DCAP verification succeeded but the TCB status is not in the accepted set."""


class PolicyError(AttestationError):
    """The attestation is genuine but the configured policy does not allow it."""


class StatementError(AttestationError):
    """A peer's signed claims statement is missing, malformed, too old, or not signed by its key."""


class ReceiptError(AttestationError):
    """A signed answer receipt is malformed, not signed by the attested key, or its hashes differ."""


class RequestError(CocoonError):
    """An inference request is rejected; rendered as an OpenAI error body with `status`.

    `error_type` is OpenAI's `error.type` (e.g. ``invalid_request_error``), `param` names the offending
    parameter when there is one, `code` is a machine-readable code (e.g. ``model_not_found``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def to_body(self) -> dict[str, object]:
        """The OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class E2EError(CocoonError):
    """An end-to-end encrypted envelope or response frame failed a check (spec/e2e.md).

    ``code`` is the generic machine-readable reason (``e2e_key_unknown``, ``e2e_header_mismatch``,
    ``e2e_stale``, ``e2e_replay``, ``e2e_open_failed``, ``e2e_frame_invalid``...): the only thing a
    worker says about a refused envelope, so that a refusal reveals nothing of its content.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EngineError(CocoonError):
    """The inference engine failed, rejected the request, or cannot be reached."""


class EngineStatusError(EngineError):
    """The engine answered with an HTTP error; its status and OpenAI error object are kept.

    A 4xx means the engine rejected the request itself: pass ``status`` and ``error`` on to the caller.
    A 5xx means the engine failed: report an upstream error.
    """

    def __init__(self, message: str, *, status: int, error: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, object] = dict(error or {"message": message, "type": "engine_error"})

    @property
    def is_client_error(self) -> bool:
        """Whether the engine blamed the request (4xx) rather than itself (5xx)."""
        return 400 <= self.status < 500


class EngineTimeoutError(EngineError):
    """The engine did not connect, answer or send the next chunk within the allowed time."""


class PaymentError(CocoonError):
    """A metering, reservation or payment-channel invariant does not hold."""


class InsufficientFundsError(PaymentError):
    """The client's balance or stake cannot cover the reservation for a request."""


class WalletFundsError(InsufficientFundsError):
    """A node wallet holds too little TON to start or to send; the message names the amount to send and
    the wallet's address (user-friendly form)."""

    def __init__(self, message: str, *, address: str, missing_nano: int) -> None:
        super().__init__(message)
        self.address = address
        self.missing_nano = missing_nano


class InvalidUsageError(PaymentError, ValueError):
    """Token counts that cannot be: negative, more cached than prompt or more reasoning than completion
    tokens. It is also a ``ValueError`` so that msgspec, decoding a peer's message, reports it as a
    validation error (which the wire codec turns into a `DecodeError`)."""


class StateRollbackError(PaymentError):
    """Payment state went backwards: a counter decreased, or the chain shows a commit this proxy never
    wrote (it runs on a restored older database, or a clone runs with the same key)."""


class ChainError(CocoonError):
    """A TON chain operation failed (local emulator, toncenter HTTP or liteserver)."""


class ContractError(ChainError):
    """A contract rejected a message; ``exit_code`` is the TVM exit code (spec/contracts.md)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ChainDataError(ChainError):
    """A cell, BoC or chain answer does not have the layout we expect (names the field)."""


class PlannerError(CocoonError):
    """A planner input is unknown or out of range."""


class CatalogLookupError(PlannerError):
    """A model, GPU or quantization name is not in the planner's catalog; the message names the closest."""
