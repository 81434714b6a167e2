"""The client's side of signed receipts: verify each answer's receipt and keep the recent ones.

Per answer, `ReceiptCheck` takes the worker's attested key and statement from the head (the proxy
adds them; see `cocoon.proxy.admission` for the trust chain), hashes every `AnswerChunk` payload
exactly as received (before any re-framing), and at the end verifies the receipt: signed by that key,
naming this request id, the SHA-256 of the request body this client sent and of the bytes received,
and the model asked for. A verified receipt is exposed to the app (`receipt` in the body or final
usage chunk, and ``GET /v1/receipts/{request_id}``); a failure is logged and counted, never exposed.

An end-to-end encrypted answer (spec/e2e.md) carries a v2 receipt instead, over what the proxy saw
too: it is checked against the facts of the envelope the client sealed and the frames it opened
(`E2EFacts`), and must be signed by the attested key of a worker the request was sealed to. Its
origin is established by its end-to-end tag, which only that worker could make, rather than by its
signature, which the proxy verified before charging (`cocoon.attestation.receipt_e2e` says why);
an untagged one by its signature.

With ``directory`` set, each verified receipt is also written as ``<request_id>.json`` next to the
exact request and response bytes (``.request``, ``.response``) for ``cocoon receipt verify``; for a v2
receipt also ``.e2e``, the ciphertext it signs and the secret that opens it to those bytes
(`cocoon.e2e.evidence`).

An answer that came over COCOON's own client protocol (`cocoon.client.backend.ClientProtocol`) has no
receipt because that protocol has none: it is counted apart (``none_by_protocol``), at debug level,
not as a missing receipt; its worker sends no statement either.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from cocoon.attestation.receipt import SignedReceipt
from cocoon.attestation.receipt_e2e import E2EExpectation, FramesSeen, SignedE2EReceipt, TagOf
from cocoon.attestation.statement import Statement, check_fresh, verify_statement
from cocoon.client.backend import ClientProtocol, close_parts
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.e2e.evidence import Evidence
from cocoon.errors import ReceiptError, RequestError, StatementError
from cocoon.wire.headers import WORKER_KEY, WORKER_STATEMENT
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerPart

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000


@dataclass
class ReceiptCounters:
    """Answers by what became of their receipt (the ``receipts`` of /jsonstats)."""

    verified: int = 0
    failed: int = 0
    """A receipt came and did not verify."""
    missing: int = 0
    """Our protocol, and no receipt came (a worker that does not sign them)."""
    none_by_protocol: int = 0
    """Answers over COCOON's client protocol, which has no receipts."""


class ReceiptOutcome(enum.StrEnum):
    """What became of one answer's receipt (``receipt`` of a recent request; same names as the counters)."""

    VERIFIED = "verified"
    FAILED = "failed"
    MISSING = "missing"
    NONE_BY_PROTOCOL = "none_by_protocol"


class E2EFacts(Protocol):
    """What the client knows of an end-to-end encrypted answer (`cocoon.client.e2e_answer.E2EAnswer`)."""

    @property
    def expectation(self) -> E2EExpectation:
        """What the v2 receipt must say of the envelope that was answered."""
        ...

    @property
    def signers(self) -> Mapping[bytes, bytes]:
        """The attested keys of the workers that envelope was sealed to, each with its key id."""
        ...

    def frames_seen(self) -> FramesSeen:
        """The frames opened so far."""
        ...

    @property
    def receipt_tag(self) -> TagOf | None:
        """What computes the receipt's end-to-end tag (None: no frame was opened, so no key)."""
        ...

    def keep_frames(self) -> None:
        """Also keep the frames as received (for `evidence`)."""
        ...

    def evidence(self) -> Evidence | None:
        """The answer's ciphertext and what opens it (None: frames were not kept, or no answer)."""
        ...


class ReceiptCheck:
    """Follows one answer from head to end and verifies its receipt (v2 when ``e2e`` is given)."""

    def __init__(
        self,
        request_id: str,
        request_body: bytes,
        model: str,
        e2e: E2EFacts | None = None,
        protocol: ClientProtocol = ClientProtocol.NATIVE,
    ) -> None:
        self.request_id = request_id
        self.request_body = request_body
        self.model = model
        self.e2e = e2e
        self.protocol = protocol
        self.outcome: ReceiptOutcome | None = None
        """Set by `ReceiptBook.finish` at the answer's end."""
        self.worker_key: bytes | None = None
        self.statement: Statement | None = None
        self._hash = hashlib.sha256()
        self._keep: bytearray | None = None
        self.verified: dict[str, Any] | None = None
        """The receipt's JSON form once verified (what the app is shown)."""

    def head(self, headers: tuple[tuple[str, str], ...], now: float, max_age_s: float) -> None:
        """Read the worker's attested key and statement; `StatementError` if stale or forged."""
        if self.protocol is ClientProtocol.COCOON:
            if max_age_s > 0:
                raise StatementError(
                    "COCOON's client protocol carries no worker statement, so max_statement_age_s "
                    "cannot be met through a COCOON-protocol proxy; set it to 0 to use such proxies"
                )
            return  # whatever headers came are the engine's, never an attestation
        self.worker_key, raw = _attestation_headers(headers)
        if not raw and max_age_s <= 0:
            return  # nothing stated and nothing required (a worker that predates statements)
        if self.worker_key is None:
            raise StatementError("the proxy did not say which attested worker answers; cannot check it")
        self.statement = verify_statement(raw, self.worker_key)
        check_fresh(self.statement, now, max_age_s)

    def keep_bytes(self) -> None:
        """Also keep the received bytes (for writing them next to the receipt)."""
        self._keep = bytearray()

    def chunk(self, data: bytes) -> None:
        """Fold one received chunk payload into the response hash (a v2 receipt covers the frames, and
        ``data`` is then their opened payload)."""
        if self._keep is not None:
            self._keep += data
        if self.e2e is None:
            self._hash.update(data)

    @property
    def response(self) -> bytes:
        return bytes(self._keep or b"")

    def end(self, end: AnswerEnd) -> SignedReceipt | SignedE2EReceipt:
        """The verified receipt of this answer, or `ReceiptError` saying what does not match."""
        if end.receipt is None:
            raise ReceiptError("the answer carries no receipt (the worker does not sign receipts)")
        if self.worker_key is None:
            raise ReceiptError("no attested worker key was given for this answer's path")
        if self.e2e is not None:
            return self._end_e2e(end.receipt, end, self.e2e)
        signed = SignedReceipt.decode(end.receipt)
        receipt = signed.verify(self.worker_key)
        if receipt.request_id != self.request_id:
            raise ReceiptError(f"receipt names request {receipt.request_id!r}, not {self.request_id!r}")
        if receipt.request_sha256 != hashlib.sha256(self.request_body).digest():
            raise ReceiptError("receipt's request_sha256 is not the hash of the request this client sent")
        if receipt.response_sha256 != self._hash.digest():
            raise ReceiptError("receipt's response_sha256 is not the hash of the bytes received")
        if receipt.model_id != self.model:
            raise ReceiptError(f"receipt is for model {receipt.model_id!r}, not {self.model!r}")
        if (receipt.prompt_tokens, receipt.completion_tokens) != (
            end.usage.prompt_tokens,
            end.usage.completion_tokens,
        ):
            raise ReceiptError("receipt's token counts differ from the usage the proxy charged")
        return signed

    def _end_e2e(self, raw: bytes, end: AnswerEnd, e2e: E2EFacts) -> SignedE2EReceipt:
        assert self.worker_key is not None
        key_id = e2e.signers.get(self.worker_key)
        if key_id is None:
            raise ReceiptError(
                f"the answering worker {self.worker_key.hex()[:16]}… is not one the request was sealed to"
            )
        signed = SignedE2EReceipt.decode(raw)
        receipt = signed.check(
            self.worker_key, e2e.expectation, e2e.frames_seen(), end.usage, tag_of=e2e.receipt_tag
        )
        if receipt.key_id != key_id:
            raise ReceiptError("the end-to-end receipt names a key the answering worker was not sealed to")
        return signed


def _attestation_headers(headers: tuple[tuple[str, str], ...]) -> tuple[bytes | None, bytes]:
    """(worker key, statement bytes) from a head; the last value of a repeated header wins."""
    values = {k.lower(): v for k, v in headers}
    try:
        key = bytes.fromhex(values[WORKER_KEY]) if WORKER_KEY in values else None
        raw = base64.b64decode(values.get(WORKER_STATEMENT, ""), validate=True)
    except ValueError as exc:  # bad hex or base64 (binascii.Error is a ValueError)
        raise StatementError(f"the proxy sent a malformed worker key or statement: {exc}") from exc
    return key, raw


class ReceiptBook:
    """Verifies answers' receipts and keeps the last ``capacity`` verified ones by request id."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        max_statement_age_s: float = 0.0,
        directory: str = "",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.capacity = capacity
        self.max_statement_age_s = max_statement_age_s
        self.directory = Path(directory).expanduser() if directory else None
        """Where verified receipts are written with their exact bytes (None = memory only)."""
        self.clock = clock
        self.counters = ReceiptCounters()
        self._store: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def start(
        self,
        request_id: str,
        request_body: bytes,
        model: str,
        e2e: E2EFacts | None = None,
        protocol: ClientProtocol = ClientProtocol.NATIVE,
    ) -> ReceiptCheck:
        """A check for one answer (call `ReceiptCheck.head` with the answer's head next); ``e2e``: the
        facts of an end-to-end encrypted answer, whose receipt is v2; ``protocol``: the one that
        carried the answer (COCOON's has no receipts)."""
        check = ReceiptCheck(request_id, request_body, model, e2e, protocol)
        if self.directory is not None:
            check.keep_bytes()
            if e2e is not None:
                e2e.keep_frames()
        return check

    def head(self, check: ReceiptCheck, headers: tuple[tuple[str, str], ...]) -> None:
        """`ReceiptCheck.head` with this book's clock and freshness bound."""
        check.head(headers, self.clock.time(), self.max_statement_age_s)

    def finish(self, check: ReceiptCheck, end: AnswerEnd) -> dict[str, Any] | None:
        """Verify the answer's receipt; return its JSON form when valid (stored), else None (counted)."""
        if check.protocol is ClientProtocol.COCOON and end.receipt is None:
            self.counters.none_by_protocol += 1
            check.outcome = ReceiptOutcome.NONE_BY_PROTOCOL
            log.debug("request %s came over the COCOON protocol: no receipt to check", check.request_id)
            return None
        try:
            signed = check.end(end)
        except ReceiptError as exc:
            if end.receipt is None:
                self.counters.missing += 1
                check.outcome = ReceiptOutcome.MISSING
            else:
                self.counters.failed += 1
                check.outcome = ReceiptOutcome.FAILED
            log.warning("receipt of request %s not accepted: %s", check.request_id, exc)
            return None
        self.counters.verified += 1
        check.outcome = ReceiptOutcome.VERIFIED
        doc = signed.to_json()
        self._store[check.request_id] = doc
        while len(self._store) > self.capacity:
            self._store.popitem(last=False)
        return doc

    async def follow(
        self, parts: AsyncIterator[AnswerPart], check: ReceiptCheck
    ) -> AsyncIterator[AnswerPart]:
        """Pass ``parts`` through, hashing chunks; at the end, `finish` sets ``check.verified``.
        Closing this closes ``parts``."""
        try:
            async for part in parts:
                if isinstance(part, AnswerChunk):
                    check.chunk(part.data)
                elif isinstance(part, AnswerEnd):
                    check.verified = self.finish(check, part)
                    if check.verified is not None and self.directory is not None:
                        await asyncio.to_thread(self._write, check, check.verified)
                yield part
        finally:
            await close_parts(parts)

    def prometheus(self) -> list[str]:
        """The counters as Prometheus lines (for the client's /metrics)."""
        lines = ["# TYPE cocoon_client_receipts_total counter"]
        for outcome, count in asdict(self.counters).items():
            lines.append(f'cocoon_client_receipts_total{{outcome="{outcome}"}} {count}')
        return lines

    def get(self, request_id: str) -> dict[str, Any] | None:
        """The verified receipt of a recent request, or None."""
        return self._store.get(request_id)

    def _write(self, check: ReceiptCheck, doc: dict[str, Any]) -> None:
        assert self.directory is not None
        base = self.directory / check.request_id
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            base.with_suffix(".request").write_bytes(check.request_body)
            base.with_suffix(".response").write_bytes(check.response)
            if check.e2e is not None and (evidence := check.e2e.evidence()) is not None:
                base.with_suffix(".e2e").write_bytes(evidence.encode())
            base.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
        except OSError as exc:
            log.warning("cannot write receipt %s to %s: %s", check.request_id, self.directory, exc)


def worker_refused(exc: StatementError) -> RequestError:
    """The 502 an app gets when the answering worker's statement is refused (nothing was generated)."""
    return RequestError(
        f"The answering worker was refused: {exc}",
        status=502,
        error_type="upstream_error",
        code="worker_not_attested",
    )
