"""What the settlement has done, counted for the status page (``/jsonstats``) and for tests.

One :class:`SettlementCounters` per settlement is handed to the collaborators that send something:
:mod:`.committer` (flushes, notes), :mod:`.settler` (charges, payouts, refunds, withdrawals) and
:mod:`.updates` (payment updates pushed to counterparts, and the pushes that failed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SettlementCounters:
    """Messages the settlement has sent and flushes it has made."""

    notes_sent: int = 0
    charges_sent: int = 0
    payouts_sent: int = 0
    withdrawals_sent: int = 0
    refunds_granted: int = 0
    flushes: int = 0
    updates_sent: int = 0
    """Payment updates that reached a connected counterpart."""
    updates_failed: int = 0
    """Payment updates whose send raised (logged; the update is sent again on the next push)."""
