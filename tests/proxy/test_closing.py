"""The proxy close's decision core: phases, what is sent when, and what is never sent again too soon."""

from __future__ import annotations

from cocoon.proxy.closing import (
    RESEND_AFTER_S,
    CloseView,
    Commit,
    Party,
    Phase,
    SendCloseComplete,
    SendCloseRequest,
    SendFinal,
    decide,
)

CLIENT = Party(True, "0:c", True, 0, 100, 150)
WORKER = Party(False, "0:w", True, 0, 100, 150)


def view(**kw: object) -> CloseView:
    base: dict[str, object] = dict(
        intent=True, proxy_state=1, unlock_ts=1000, chain_now=500, committed=True, now=100.0
    )
    return CloseView(**{**base, **kw})  # type: ignore[arg-type]


def test_nothing_asked_and_a_normal_contract_is_open() -> None:
    d = decide(view(intent=False, proxy_state=0))
    assert d.phase is Phase.OPEN and not d.closing and d.actions == ()


def test_asked_sends_the_close_request_once_per_resend_interval() -> None:
    d = decide(view(proxy_state=0))
    assert d.phase is Phase.REQUESTING and d.closing and d.actions == (SendCloseRequest(),)
    recent = {"close_request": 100.0 - RESEND_AFTER_S + 1}
    assert decide(view(proxy_state=0, sent=recent)).actions == ()
    stale = {"close_request": 100.0 - RESEND_AFTER_S}
    assert decide(view(proxy_state=0, sent=stale)).actions == (SendCloseRequest(),)


def test_a_contract_closing_without_a_local_request_is_closed_through() -> None:
    d = decide(view(intent=False, parties=(CLIENT,)))
    assert d.phase is Phase.SETTLING and d.actions == (SendFinal(CLIENT, 150),)


def test_running_requests_then_uncommitted_totals_come_before_any_final_message() -> None:
    assert decide(view(requests_running=2, parties=(CLIENT,))).actions == ()
    d = decide(view(committed=False, parties=(CLIENT,)))
    assert d.phase is Phase.SETTLING and d.actions == (Commit(),)


def test_every_open_counterpart_gets_its_final_message_for_the_larger_total() -> None:
    ahead = Party(False, "0:x", True, 0, 300, 200)  # the contract recorded more: sign that (no charge)
    done = Party(True, "0:d", True, 2, 5, 5)
    never = Party(True, "0:n", False, 0, 0, 0)  # a client contract that never existed holds nothing
    owed = Party(False, "0:o", False, 0, 0, 40)  # a worker owed tokens whose contract is not deployed
    d = decide(view(parties=(CLIENT, WORKER, ahead, done, never, owed), sent={WORKER.key: 99.0}))
    assert d.phase is Phase.SETTLING
    assert d.actions == (SendFinal(CLIENT, 150), SendFinal(ahead, 300), SendFinal(owed, 40))
    assert d.pending == (CLIENT, WORKER, ahead, owed)


def test_the_delay_is_waited_out_on_the_chains_clock_then_completed() -> None:
    closed = (Party(True, "0:c", True, 2, 150, 150),)
    d = decide(view(parties=closed, chain_now=999))
    assert d.phase is Phase.WAITING and d.seconds_left == 1 and d.actions == ()
    d = decide(view(parties=closed, chain_now=1000))
    assert d.phase is Phase.COMPLETING and d.actions == (SendCloseComplete(),)
    assert decide(view(proxy_state=2)).phase is Phase.CLOSED
