"""A pure-Python model of the contracts' money rules, used only as a test oracle.

One proxy contract, one client contract and one worker contract of that proxy, as in
spec/contracts.md. Every operation either is rejected with the exit code the contract must fail with,
or succeeds and pays some owners exact amounts. Gas is not modelled: the contracts return all change,
so the only money that moves is what the rules below say.

``funds`` is the TON the proxy contract holds for others (client top-ups, its stake, its commission)
on top of its base balance; a payout the contract cannot cover from what it held before the message
fails with ``low_smc_balance``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cocoon.ton.ops import ContractState, ExitCode

NORMAL, CLOSING, CLOSED = ContractState.NORMAL, ContractState.CLOSING, ContractState.CLOSED


@dataclass(frozen=True)
class Rules:
    """The params the money rules depend on."""

    price: int
    worker_fee: int
    client_delay: int
    proxy_delay: int
    min_client_stake: int


@dataclass(frozen=True)
class Outcome:
    """Result of one operation: an exit code (0 = accepted) and exact payouts by recipient."""

    exit_code: int = 0
    payouts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def rejected(code: ExitCode) -> Outcome:
    return Outcome(exit_code=int(code))


@dataclass
class MoneyModel:
    """Mutable model state; each method applies one operation and returns its outcome."""

    rules: Rules
    proxy_base: int  # proxy balance above its floor when the model starts (deploy value minus fees)
    client_state: int = NORMAL
    client_balance: int = 0
    client_stake: int = 0
    tokens_used: int = 0
    client_unlock_ts: int = 0
    worker_state: int = NORMAL
    worker_tokens: int = 0
    proxy_state: int = NORMAL
    proxy_balance: int = 0
    proxy_stake: int = 0
    proxy_unlock_ts: int = 0
    funds: int = 0

    def __post_init__(self) -> None:
        self.client_stake = self.rules.min_client_stake

    # ---- proxy side of forwarded requests --------------------------------------------------------

    def _proxy_pays(self, recipient: str, amount: int) -> Outcome:
        """A forwarded payout; if the proxy refuses, the sender contract keeps its new state (the
        refusal bounces only the change back)."""
        if self.proxy_state == CLOSED:
            return rejected(ExitCode.CLOSED)
        return self._proxy_pays_any_state(recipient, amount)

    # ---- client ----------------------------------------------------------------------------------

    def top_up(self, amount: int) -> Outcome:
        if self.client_state != NORMAL:
            return rejected(ExitCode.CLOSED)
        self.client_balance += amount
        if self.proxy_state == NORMAL:  # a closing proxy sends the top-up back as change
            self.funds += amount
        return Outcome()

    def _charge(self, new_tokens: int) -> None:
        d = new_tokens - self.tokens_used
        self.client_balance = max(0, self.client_balance - d * self.rules.price)
        self.tokens_used = new_tokens

    def charge(self, new_tokens: int) -> Outcome:
        if self.client_state == CLOSED:
            return rejected(ExitCode.CLOSED)
        if new_tokens <= self.tokens_used:
            return rejected(ExitCode.OLD_MESSAGE)
        self._charge(new_tokens)
        return Outcome()

    def grant_refund(self, new_tokens: int) -> Outcome:
        if self.client_state == CLOSED:
            return rejected(ExitCode.CLOSED)
        if new_tokens < self.tokens_used:
            return rejected(ExitCode.OLD_MESSAGE)
        self._charge(new_tokens)
        refund, self.client_balance, self.client_state = self.client_balance, 0, CLOSED
        return self._proxy_pays("client_owner", refund)

    def withdraw(self) -> Outcome:
        if self.client_state != NORMAL:
            return rejected(ExitCode.CLOSED)
        if self.client_balance <= self.client_stake:
            return rejected(ExitCode.LOW_BALANCE)
        amount, self.client_balance = self.client_balance - self.client_stake, self.client_stake
        return self._proxy_pays("client_owner", amount)

    def request_refund(self, now: int) -> Outcome:
        if self.client_state == CLOSED:
            return rejected(ExitCode.CLOSED)
        if self.client_state == NORMAL:
            self.client_state = CLOSING
            self.client_unlock_ts = now + self.rules.client_delay
            if self.client_balance <= self.client_stake:
                return Outcome()
            amount, self.client_balance = self.client_balance - self.client_stake, self.client_stake
            return self._proxy_pays("client_owner", amount)
        if now < self.client_unlock_ts:
            return rejected(ExitCode.NOT_UNLOCKED_YET)
        rest, self.client_balance, self.client_state = self.client_balance, 0, CLOSED
        paid = min(rest, self.proxy_stake)
        outcome = self._proxy_pays("client_owner", paid)
        if outcome.ok:  # the rest is paid from the proxy's stake, capped by it
            self.proxy_stake -= paid
        return outcome

    # ---- worker ----------------------------------------------------------------------------------

    def worker_payout(self, new_tokens: int, *, last: bool = False) -> Outcome:
        if self.worker_state == CLOSED:
            return rejected(ExitCode.CLOSED)
        if new_tokens < self.worker_tokens or (not last and new_tokens == self.worker_tokens):
            return rejected(ExitCode.OLD_MESSAGE)
        d = new_tokens - self.worker_tokens
        self.worker_tokens = new_tokens
        if last:
            self.worker_state = CLOSED
        outcome = self._proxy_pays("worker_owner", d * self.rules.worker_fee)
        if outcome.ok:
            self.proxy_balance += d * (self.rules.price - self.rules.worker_fee)
        return outcome

    # ---- proxy -----------------------------------------------------------------------------------

    def proxy_withdraw(self) -> Outcome:
        amount = self.proxy_balance
        outcome = self._proxy_pays_any_state("proxy_owner", amount)
        if outcome.ok:
            self.proxy_balance = 0
        return outcome

    def _proxy_pays_any_state(self, recipient: str, amount: int) -> Outcome:
        if amount > self.proxy_base + self.funds:
            return rejected(ExitCode.LOW_SMC_BALANCE)
        self.funds -= amount
        return Outcome(payouts={recipient: amount} if amount else {})

    def increase_stake(self, grams: int) -> Outcome:
        if self.proxy_state != NORMAL:
            return rejected(ExitCode.CLOSED)
        self.proxy_stake += grams
        self.funds += grams
        return Outcome()

    def proxy_close(self, now: int) -> Outcome:
        if self.proxy_state != NORMAL:
            return rejected(ExitCode.CLOSED)
        self.proxy_state = CLOSING
        self.proxy_unlock_ts = now + self.rules.proxy_delay
        return Outcome()
