"""End-to-end encrypted requests at the proxy (``RunQuery.e2e``, spec/e2e.md): what it reads of them.

The proxy never opens an envelope. It reads its plaintext header (`read_e2e_request`) and refuses one
whose routing fields differ from the request's, or that it cannot route, before reserving anything;
the request goes only to workers whose end-to-end key ids the header lists, and when none of them can
take it now while others could, it is sealed again rather than queued (`reroute_now`). For each try
on a worker (`E2ERelay`) the proxy hashes every frame it relays and checks the worker's signed receipt
against those bytes before charging: a receipt that is missing or differs is never charged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cocoon.api.error_codes import E2E_BAD_ENVELOPE, E2E_HEADER_MISMATCH, E2E_UNSUPPORTED
from cocoon.attestation.receipt_e2e import E2EExpectation, FramesSeen, SignedE2EReceipt
from cocoon.e2e.envelope import E2E_VERSION, Envelope, Header, header_hash, read_header
from cocoon.e2e.frames import FrameLog
from cocoon.e2e.suite import SUITE
from cocoon.errors import E2EError, ReceiptError
from cocoon.proxy.selection import Choice, Chosen, NoCapacity, NoSuchModel, PriceTooLow
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.usage import Usage
from cocoon.wire.messages import RunQuery


@dataclass(frozen=True, slots=True)
class E2ERequest:
    """What the proxy knows of an end-to-end encrypted request: its envelope and plaintext header."""

    envelope: Envelope
    header: Header
    header_sha256: bytes
    envelope_sha256: bytes

    @property
    def key_ids(self) -> frozenset[bytes]:
        return frozenset(self.header.key_ids)

    def expectation(self, forwarded: RunQuery) -> E2EExpectation:
        """What the worker's receipt must say about the request (``forwarded``: the worker's hop)."""
        return E2EExpectation(
            client_request_id=forwarded.client_request_id,
            model=forwarded.model,
            header_sha256=self.header_sha256,
            envelope_sha256=self.envelope_sha256,
            max_tokens=forwarded.max_tokens,
            n=self.header.n,
            hop_request_id=forwarded.request_id,
            key_ids=self.header.key_ids,
            coefficient=forwarded.coefficient,
        )


def read_e2e_request(request: RunQuery) -> E2ERequest | None:
    """The end-to-end facts of ``request`` (None: a plaintext request), or `E2EError` with the code to
    answer when its envelope cannot be routed: unreadable (`e2e_bad_envelope`), another version or
    suite (`e2e_unsupported`), a plaintext body next to it, or routing fields that differ from its
    header (`e2e_header_mismatch`; ``n`` is the header's, the request does not carry it)."""
    envelope = request.e2e
    if envelope is None:
        return None
    header = read_header(envelope)
    if header.v != E2E_VERSION or header.suite != SUITE:
        raise E2EError(
            E2E_UNSUPPORTED, f"e2e version {header.v} or suite {header.suite.hex()} is not served here"
        )
    if request.body:
        raise E2EError(
            E2E_BAD_ENVELOPE, "an end-to-end encrypted request carries its body only inside the envelope"
        )
    routing = request.routing(header.n)
    if header.routing != routing:
        differ = [
            name
            for name in ("client_request_id", "model", "endpoint", "max_tokens", "max_coefficient")
            if getattr(header.routing, name) != getattr(routing, name)
        ]
        raise E2EError(
            E2E_HEADER_MISMATCH,
            f"the request's {', '.join(differ)} differ from its end-to-end header; nothing was charged",
        )
    return E2ERequest(envelope, header, header_hash(envelope.header), envelope.sha256())


class E2ERelay:
    """One try of an end-to-end request on one worker: what its receipt must match, and how many of its
    envelope's keys no connected worker holds (`cocoon.wire.headers.E2E_STALE_KEYS`)."""

    def __init__(self, e2e: E2ERequest, forwarded: RunQuery, unheld: int = 0) -> None:
        self.expected = e2e.expectation(forwarded)
        self.frames = FrameLog()
        self.unheld = unheld

    def receipt_refusal(self, link: WorkerLink, usage: Usage, receipt: bytes | None) -> str | None:
        """Why the worker's receipt does not let the proxy charge ``usage`` (None: it does).

        Signed by the key this proxy attested; every field equal to the request, the frames relayed
        (their final flag included: a partial receipt of an answer that failed says False) and
        ``usage``; the key it was opened with listed in the header; the coefficient charged."""
        if receipt is None:
            return "it sent no end-to-end receipt"
        if link.attested is None:
            return "the connection attested no worker key to check its receipt with"
        frames = self.frames
        seen = FramesSeen(frames.digest(), frames.count, frames.final)
        try:
            SignedE2EReceipt.decode(receipt).check(link.attested.public_key, self.expected, seen, usage)
        except ReceiptError as exc:
            return str(exc)
        return None


def reroute_now(
    choice: Choice,
    workers: WorkerPool,
    request: RunQuery,
    tried: set[str],
    rng: random.Random,
) -> bool:
    """Whether an end-to-end request must be sealed again to other workers rather than wait.

    None of its workers is left, or they all ask more than its price ceiling: reroute. All are busy:
    reroute only when another worker of the model could take it now (else it waits in the queue like
    any request, and all workers being busy is `no_capacity`)."""
    match choice:
        case NoSuchModel() | PriceTooLow():
            return True
        case NoCapacity():
            anyone = workers.choose(request.model, request.max_coefficient, rng, tried, endpoint=request.path)
            return isinstance(anyone, Chosen)
    return False
