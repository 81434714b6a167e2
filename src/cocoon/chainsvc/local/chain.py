"""``LocalChain``: a single-shard TON chain running real transactions on the official emulator.

Messages are processed breadth-first: the inbound message's transaction, then every internal message it
sent (bounces included, which the emulator creates itself), and so on until the trace is quiet. The
clock is explicit (``set_time``/``advance``; the core never reads the wall clock) and everything is
persisted per trace (see :mod:`cocoon.chainsvc.local.store`), so a restarted local network keeps its balances.

Test helpers: :meth:`LocalChain.deploy`, :meth:`LocalChain.send_internal` (from any address, e.g. the
faucet, which has unlimited funds), :meth:`LocalChain.fund`; and :func:`cocoon.ton.chain.raise_on_failure`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from pathlib import Path

from pytoniq_core.boc.hashmap import HashMap

from cocoon.chainsvc.local.emulator import Emulated, Emulator, GetMethodOutcome
from cocoon.chainsvc.local.netconfig import default_config
from cocoon.chainsvc.local.store import ChainStore
from cocoon.errors import ChainError, ContractError
from cocoon.ton.address import Address
from cocoon.ton.cells import (
    Cell,
    begin_cell,
    cell_from_boc,
    cell_to_boc,
    contract_address,
    external_message,
    internal_message,
)
from cocoon.ton.chain import AccountState, AccountStatus, StackItem, Transaction
from cocoon.ton.tlb import (
    account_from_shard_account,
    message_from_cell,
    method_id,
    stack_from_cell,
    stack_to_cell,
)
from cocoon.ton.tlb import transaction_from_cell as parse_tx

FAUCET = Address(0, bytes.fromhex("fa" * 32))
"""Source address of faucet transfers; injected messages never debit their source."""

_LT_STEP = 1_000  # room for the out-messages of one transaction (they take lt + 1 ...)
# A ShardAccount holding account_none: the emulator takes the new account's address from the message.
_EMPTY_ACCOUNT = cell_to_boc(
    begin_cell().store_ref(begin_cell().store_uint(0, 1).end_cell()).store_uint(0, 256 + 64).end_cell()
)


class LocalChain:
    """The local chain (synchronous core; wrap with :class:`~cocoon.chainsvc.local.aio.AsyncLocalChain`)."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        now: int,
        config: Cell | None = None,
        trace_limit: int = 10_000,
    ) -> None:
        self._store = ChainStore(path)
        self._config = config if config is not None else default_config()
        self._emulator = Emulator(self._config)
        # ShardAccount BoCs, kept encoded: the emulator takes and returns them so.
        self._accounts = {Address.parse(raw): boc for raw, boc in self._store.accounts()}
        self._now = max(self._store.meta("now", 0), now)
        self._lt = self._store.meta("lt", 1_000_000)
        self._trace_limit = trace_limit
        self._config_params: dict[int, Cell] | None = None
        self.last_vm_logs: list[str] = []
        """TVM logs (tail) of the last trace's transactions, in trace order: for debugging contracts."""

    def close(self) -> None:
        self._emulator.close()
        self._store.close()

    # ---- clock -----------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The chain's unix time: every new transaction is stamped with it."""
        return self._now

    def set_time(self, now: int) -> None:
        """Move the clock to ``now`` (never backwards: chain time is monotonic)."""
        if now < self._now:
            raise ChainError(f"cannot move the local chain clock back from {self._now} to {now}")
        if now == self._now:
            return
        self._now = now
        self._store.commit((), (), {"now": self._now})

    def advance(self, seconds: int) -> None:
        self.set_time(self._now + seconds)

    # ---- reading ---------------------------------------------------------------------------------

    @property
    def config(self) -> Cell:
        """The whole network config (the root of ``HashmapE 32 ^Cell``)."""
        return self._config

    def get_config_param(self, index: int) -> Cell | None:
        """Config parameter ``index`` (e.g. 20/21 gas prices, 24/25 message prices), ``None`` if absent."""
        if self._config_params is None:
            params = HashMap.parse(self._config.begin_parse(), 32) or {}
            self._config_params = {int(k): v.load_ref() for k, v in params.items()}
        return self._config_params.get(index)

    def account(self, address: Address) -> AccountState:
        boc = self._accounts.get(address)
        return account_from_shard_account(address, None if boc is None else cell_from_boc(boc))

    def shard_account_boc(self, address: Address) -> bytes | None:
        """The raw ``ShardAccount`` BoC (what a liteserver would prove), ``None`` if nonexistent."""
        return self._accounts.get(address)

    def balance(self, address: Address) -> int:
        return self.account(address).balance

    def transactions(self, address: Address, *, after_lt: int = 0, limit: int = 100) -> list[Transaction]:
        """Transactions of ``address`` with lt > ``after_lt``, oldest first."""
        return [parse_tx(cell_from_boc(b)) for b in self._store.transactions(address.raw, after_lt, limit)]

    def transaction_bocs_before(self, address: Address, before_lt: int | None, limit: int) -> list[bytes]:
        """Raw transaction BoCs with lt < ``before_lt``, newest first (toncenter-style paging)."""
        return self._store.transactions_before(address.raw, before_lt, limit)

    def run_get_method(
        self, address: Address, method: str | int, stack: Sequence[StackItem] = ()
    ) -> list[StackItem]:
        """Run a get-method; exit codes other than 0/1 raise :class:`ContractError`."""
        out = self.run_get_method_raw(address, method, stack_to_cell(stack))
        if out.exit_code not in (0, 1):
            raise ContractError(
                f"get-method {method!r} of {address} failed with exit code {out.exit_code}", out.exit_code
            )
        return stack_from_cell(out.stack)

    def run_get_method_raw(self, address: Address, method: str | int, stack: Cell) -> GetMethodOutcome:
        """Run a get-method on a serialized ``VmStack``; the outcome carries any exit code and the gas
        used (what toncenter's ``runGetMethod`` reports). ChainError if the account has no code."""
        state = self.account(address)
        if state.status is not AccountStatus.ACTIVE or state.code is None:
            raise ChainError(f"cannot run get-method {method!r}: account {address} is {state.status.value}")
        return self._emulator.run_get_method(
            code=state.code,
            data=state.data if state.data is not None else begin_cell().end_cell(),
            address=address,
            balance=state.balance,
            now=self._now,
            method_id=method if isinstance(method, int) else method_id(method),
            stack=stack,
        )

    # ---- writing ---------------------------------------------------------------------------------

    def send_internal(
        self,
        src: Address,
        dest: Address,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> list[Transaction]:
        """Inject an internal message from ``src`` (not debited) and return the whole trace."""
        msg = internal_message(
            src=src,
            dest=dest,
            value=value,
            body=body,
            bounce=bounce,
            state_init=state_init,
            created_lt=self._lt,
            created_at=self._now,
        )
        return self._process(dest, msg)

    def fund(self, address: Address, value: int) -> list[Transaction]:
        """Faucet: give ``address`` ``value`` nanoTON (non-bounceable, so it also funds new addresses)."""
        return self.send_internal(FAUCET, address, value, bounce=False)

    def deploy(self, code: Cell, data: Cell, value: int, *, src: Address = FAUCET) -> Address:
        """Deploy (code, data) with ``value`` attached; ContractError if the first transaction fails."""
        address = contract_address(code, data)
        trace = self.send_internal(src, address, value, bounce=False, state_init=(code, data))
        first = trace[0]
        if not first.success or first.end_status is not AccountStatus.ACTIVE:
            code_ = first.failure_code if first.failure_code is not None else -1
            raise ContractError(f"deploying {address} failed (exit code {code_}); check code and data", code_)
        return address

    def send_external(self, message: Cell) -> list[Transaction]:
        """Apply a complete inbound external message; raises ContractError if the contract rejects it."""
        parsed = message_from_cell(message)
        if not parsed.external or parsed.dest is None:
            raise ChainError("send_external expects an inbound external message (ext_in_msg_info)")
        return self._process(parsed.dest, message)

    def send_external_body(
        self, dest: Address, body: Cell, state_init: tuple[Cell, Cell] | None = None
    ) -> list[Transaction]:
        """Wrap ``body`` in an external message to ``dest`` and apply it."""
        return self.send_external(external_message(dest, body, state_init))

    def emulate_external(self, message: Cell, *, ignore_chksig: bool = False) -> Transaction:
        """Dry run: the transaction an inbound external would cause now, without applying anything
        (for fee estimates). ContractError if the contract would not accept it."""
        parsed = message_from_cell(message)
        if not parsed.external or parsed.dest is None:
            raise ChainError("emulate_external expects an inbound external message (ext_in_msg_info)")
        account = self._accounts.get(parsed.dest, _EMPTY_ACCOUNT)
        result = self._emulator.run_transaction(
            account, message, now=self._now, lt=self._lt, ignore_chksig=ignore_chksig
        )
        if not isinstance(result, Emulated):
            raise ContractError(
                f"{parsed.dest} would not accept the external message (exit code {result.exit_code}); "
                f"{result.error or 'check seqno, signature and valid_until'}",
                result.exit_code,
            )
        return parse_tx(result.transaction)

    def _process(self, first_dest: Address, first_msg: Cell) -> list[Transaction]:
        """Run a message and everything it causes; all-or-nothing in memory and on disk."""
        queue: deque[tuple[Address, Cell]] = deque([(first_dest, first_msg)])
        trace: list[Transaction] = []
        logs: list[str] = []
        changed: dict[Address, bytes] = {}  # applied to self._accounts only once the trace is stored
        lt = self._lt
        while queue:
            if len(trace) >= self._trace_limit:
                raise ChainError(f"a trace exceeded {self._trace_limit} transactions; a contract loops")
            dest, msg = queue.popleft()
            account = changed.get(dest) or self._accounts.get(dest, _EMPTY_ACCOUNT)
            result = self._emulator.run_transaction(account, msg, now=self._now, lt=lt)
            if not isinstance(result, Emulated):
                self.last_vm_logs = [*logs, result.vm_log]
                if not trace:  # only an external can be rejected without a transaction
                    raise ContractError(
                        f"{dest} did not accept the external message (exit code {result.exit_code}); "
                        f"{result.error or 'check seqno, signature and valid_until'}",
                        result.exit_code,
                    )
                raise ChainError(f"the emulator dropped an internal message to {dest}: {result.error}")
            tx = parse_tx(result.transaction)
            changed[dest] = result.shard_account
            lt = max(lt, tx.lt) + _LT_STEP
            trace.append(tx)
            logs.append(result.vm_log)
            for out_cell, out in zip(_out_cells(result.transaction), tx.out_msgs, strict=True):
                if not out.external and out.dest is not None:
                    queue.append((out.dest, out_cell))
        self._store.commit(
            ((a.raw, boc) for a, boc in changed.items()),
            ((tx.account.raw, tx.lt, tx.hash, tx.boc) for tx in trace),
            {"now": self._now, "lt": lt},
        )
        self._accounts.update(changed)
        self._lt = lt
        self.last_vm_logs = logs
        return trace


def _out_cells(transaction: Cell) -> list[Cell]:
    """The raw out-message cells of a transaction cell, in order (forwarded to the emulator as they are)."""
    cs = transaction.refs[0].begin_parse()  # ^[in_msg:(Maybe ^Message) out_msgs:(HashmapE 15 ^Message)]
    if cs.load_bit():
        cs.load_ref()
    msgs = cs.load_dict(15, value_deserializer=lambda v: v.load_ref()) or {}
    return [msgs[k] for k in sorted(msgs)]
