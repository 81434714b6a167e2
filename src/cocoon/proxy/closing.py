"""Closing a proxy contract: the decision core (pure; no I/O, no clock: times come in the view).

A close runs through these phases (spec/contracts.md "Proxy contract", spec/economics.md "Closing";
the reference's ``OldProxyContract``):

``open``        nothing asked: the proxy serves.
``requesting``  the operator asked (the intent is persisted first): the proxy stops taking requests and
                sends ``ext_proxy_close_request_signed`` until its contract shows ``closing``. The
                owner's ``owner_proxy_close`` from the owner's wallet gets here too: a contract seen
                closing is closed through, whoever started it.
``settling``    the requests still running finish, every channel's total is made chain-committed
                (a save-state note), then every client contract gets a signed ``grant_refund`` (the
                final charge; the rest goes back to the client) and every worker contract a signed
                ``last_payout`` (what it is owed), each for the channel's cumulative total, until each
                contract shows ``closed``.
``waiting``     the contract's ``unlock_ts`` (now + ``proxy_delay_before_close`` at the close request)
                is still ahead on the chain's clock: during it late counterparts can still submit.
``completing``  ``ext_proxy_close_complete_request_signed``: commission, stake and the rest go to the
                proxy's owner and the contract is ``closed``.
``closed``      done.

Nothing here is paid twice, even across a crash and restart in any phase: each signed message names a
cumulative total, and the contracts close on the first one (a copy delivered later fails with
``closed``), so the decision only ever looks at what the chain shows and resends what is not there yet,
no sooner than ``resend_after_s`` after the last copy.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

CLOSED_STATE = 2
"""``state`` of a closed proxy, client or worker contract (spec/contracts.md)."""
NORMAL_STATE = 0
RESEND_AFTER_S = 30.0
"""How long a sent close message may take to show on chain before it is sent again."""
COMMIT_RETRY_S = 3.0
"""How soon another save-state note is sent while totals are still not chain-committed."""


class Phase(enum.StrEnum):
    OPEN = "open"
    REQUESTING = "requesting"
    SETTLING = "settling"
    WAITING = "waiting"
    COMPLETING = "completing"
    CLOSED = "closed"


@dataclass(frozen=True)
class Party:
    """One client or worker contract of the proxy, as the chain shows it now."""

    is_client: bool
    owner: str
    deployed: bool
    state: int
    """The contract's state (``CLOSED_STATE`` when done); 0 when not deployed."""
    on_chain: int
    """The cumulative tokens the contract has recorded (client ``tokens_used``, worker ``tokens``)."""
    owed: int
    """The channel's chain-committed cumulative total: what the final message signs."""

    @property
    def key(self) -> str:
        return f"{'client' if self.is_client else 'worker'}:{self.owner}"

    @property
    def done(self) -> bool:
        """Nothing left to send: closed, or a worker/client contract that never existed and is owed nothing
        (a client contract that was never deployed holds no money)."""
        if self.deployed:
            return self.state == CLOSED_STATE
        return self.is_client or self.owed == 0


@dataclass(frozen=True)
class CloseView:
    """What the decision needs: the persisted intent, the chain's view and what was sent when."""

    intent: bool
    proxy_state: int
    unlock_ts: int
    chain_now: int
    committed: bool
    """Every channel's running total is chain-committed (nothing recorded is left unsigned)."""
    requests_running: int = 0
    """Requests still being answered: their tokens are counted when they finish, so wait for them."""
    parties: tuple[Party, ...] = ()
    sent: Mapping[str, float] = field(default_factory=dict)
    """Action key -> monotonic time its last copy was sent."""
    now: float = 0.0


@dataclass(frozen=True)
class SendCloseRequest:
    key: str = "close_request"


@dataclass(frozen=True)
class Commit:
    """Flush the channels and send a save-state note now."""

    key: str = "commit"


@dataclass(frozen=True)
class SendFinal:
    """A client's ``grant_refund`` or a worker's ``last_payout`` for ``tokens`` in total."""

    party: Party
    tokens: int

    @property
    def key(self) -> str:
        return self.party.key


@dataclass(frozen=True)
class SendCloseComplete:
    key: str = "close_complete"


Action = SendCloseRequest | Commit | SendFinal | SendCloseComplete


@dataclass(frozen=True)
class Decision:
    phase: Phase
    actions: tuple[Action, ...] = ()
    seconds_left: int = 0
    """In ``waiting``: chain seconds until the contract unlocks."""
    pending: tuple[Party, ...] = ()
    """In ``settling``: the contracts not closed yet."""

    @property
    def closing(self) -> bool:
        """Whether the proxy must refuse new requests."""
        return self.phase is not Phase.OPEN


def decide(view: CloseView, resend_after_s: float = RESEND_AFTER_S) -> Decision:
    """The phase the close is in and what to send now (see the module docstring)."""

    def due(key: str, after_s: float = resend_after_s) -> bool:
        return view.now - view.sent.get(key, float("-inf")) >= after_s

    if view.proxy_state == CLOSED_STATE:
        return Decision(Phase.CLOSED)
    if view.proxy_state == NORMAL_STATE:
        if not view.intent:
            return Decision(Phase.OPEN)
        request = SendCloseRequest()
        return Decision(Phase.REQUESTING, (request,) if due(request.key) else ())
    if view.requests_running:
        return Decision(Phase.SETTLING)
    if not view.committed:
        commit = Commit()
        return Decision(Phase.SETTLING, (commit,) if due(commit.key, COMMIT_RETRY_S) else ())
    pending = tuple(p for p in view.parties if not p.done)
    if pending:
        finals = tuple(SendFinal(p, max(p.owed, p.on_chain)) for p in pending if due(p.key))
        return Decision(Phase.SETTLING, finals, pending=pending)
    if view.chain_now < view.unlock_ts:
        return Decision(Phase.WAITING, seconds_left=view.unlock_ts - view.chain_now)
    complete = SendCloseComplete()
    return Decision(Phase.COMPLETING, (complete,) if due(complete.key) else ())
