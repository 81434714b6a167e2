"""Dispatch an inbound message body (as found in a transaction) to its typed struct.

Nodes watch their contracts' transaction lists and need every inbound body, including those of
compute-skipped notes; :func:`parse_body` never raises: bodies it cannot read come back as
:class:`UnknownBody` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon.errors import ChainDataError
from cocoon.ton import messages as m
from cocoon.ton.cells import Cell
from cocoon.ton.codec import Body
from cocoon.ton.ops import Op
from cocoon.ton.signed import SIGNED_REQUESTS


@dataclass(frozen=True)
class TextCommand:
    """A text comment body (``op = 0``), e.g. the owner commands "w", "c", "b", "u"."""

    text: str


@dataclass(frozen=True)
class UnknownBody:
    """A body we could not parse: ``op`` if at least 32 bits were present, and why."""

    op: int | None
    reason: str


@dataclass(frozen=True)
class Bounced:
    """A bounced message's body: ``0xffffffff`` then the start of what we sent (op and query_id)."""

    op: int | None
    query_id: int | None


ParsedBody = Body | TextCommand | UnknownBody | Bounced

BOUNCE_PREFIX = 0xFFFFFFFF

_BODIES: tuple[type[Body], ...] = (
    m.Excesses,
    m.Payout,
    m.AddWorkerType,
    m.DelWorkerType,
    m.AddModelType,
    m.DelModelType,
    m.AddProxyType,
    m.DelProxyType,
    m.RegisterProxy,
    m.UnregisterProxy,
    m.UpdateProxy,
    m.ChangeFees,
    m.ChangeParams,
    m.UpgradeContracts,
    m.Upgrade,
    m.Reset,
    m.ChangeOwner,
    m.ClientProxyRequest,
    m.WorkerProxyRequest,
    m.ExtProxyPayoutRequest,
    m.ExtProxyIncreaseStake,
    m.OwnerProxyClose,
    m.OwnerWorkerRegister,
    m.ExtClientTopUp,
    m.OwnerClientChangeSecretHashAndTopUp,
    m.OwnerClientRegister,
    m.OwnerClientChangeSecretHash,
    m.OwnerClientIncreaseStake,
    m.OwnerClientWithdraw,
    m.OwnerClientRequestRefund,
    m.OwnerWalletSendMessage,
    *SIGNED_REQUESTS.values(),
)
BODY_TYPES: dict[int, type[Body]] = {cls.OP: cls for cls in _BODIES}
"""Top-level inbound body types by op (forwarded payloads are parsed by ``messages.payload_of``)."""


def parse_body(body: Cell | None) -> ParsedBody | None:
    """Typed struct of an inbound body; ``None`` for an empty body."""
    if body is None:
        return None
    cs = body.begin_parse()
    if cs.remaining_bits == 0 and cs.remaining_refs == 0:
        return None
    if cs.remaining_bits < 32:
        return UnknownBody(None, f"body has only {cs.remaining_bits} bits, no op")
    op = cs.load_uint(32)
    try:
        if op == 0:
            return TextCommand(cs.load_snake_string())
        if op == Op.DO_NOT_PROCESS:
            return _parse_note(body)
        cls = BODY_TYPES.get(op)
        if cls is None:
            return UnknownBody(op, "unknown op")
        return cls.from_cell(body)
    except ChainDataError as exc:
        return UnknownBody(op, str(exc))
    except Exception as exc:  # pytoniq string decoding and the like
        return UnknownBody(op, f"cannot decode: {exc}")


def _parse_note(body: Cell) -> Body:
    try:
        return m.SaveState.from_cell(body)
    except ChainDataError:
        return m.DoNotProcess.from_cell(body)


def parse_bounced(body: Cell) -> Bounced | UnknownBody:
    """The op and query_id of the original message inside a bounced body (when they fit)."""
    cs = body.begin_parse()
    if cs.remaining_bits < 32 or cs.load_uint(32) != BOUNCE_PREFIX:
        return UnknownBody(None, "bounced body without the 0xffffffff prefix")
    op = cs.load_uint(32) if cs.remaining_bits >= 32 else None
    query_id = cs.load_uint(64) if op is not None and cs.remaining_bits >= 64 else None
    return Bounced(op, query_id)
