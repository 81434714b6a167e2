"""``LiteChain``: the :class:`~cocoon.ton.chain.Chain` protocol over TON liteservers (pytoniq).

The operator supplies a global network config (the JSON with ``liteservers``); ``LiteChain.connect``
builds a pytoniq ``LiteBalancer`` over it. The client object is injected, so tests drive LiteChain with a
fake that replays answers recorded from the local chain. Answers are parsed by :mod:`cocoon.ton.lite`.

Every query is counted by method (:attr:`LiteChain.requests`) and a failed one is asked again, up to
``attempts`` times with a backoff (the balancer sends the retry to another liteserver when the first one
is down or behind); a get-method's exit code is an answer, not a failure, and is not retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cocoon.chainsvc.limiter import RateGate, RequestCounts
from cocoon.errors import ChainError, ConfigError, ContractError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_to_boc, to_pt_address
from cocoon.ton.chain import AccountState, StackItem, Transaction
from cocoon.ton.lite import account_from_lite, stack_from_lite, transactions_from_lite

T = TypeVar("T")
log = logging.getLogger(__name__)

PAGE = 64
"""Transactions asked per ``get_transactions`` call (pytoniq fetches them 16 at a time)."""


class LiteApi(Protocol):
    """The part of pytoniq's ``LiteClient``/``LiteBalancer`` that LiteChain uses."""

    async def raw_get_account_state(self, address: Any) -> tuple[Any, Any]: ...

    async def get_transactions(
        self,
        address: Any,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
        to_lt: int = 0,
    ) -> list[Any]: ...

    async def run_get_method(self, address: Any, method: str | int, stack: list[Any]) -> list[Any]: ...

    async def raw_send_message(self, message: bytes) -> Any: ...

    async def get_time(self) -> Any: ...


def load_global_config(path: str) -> dict[str, Any]:
    """The TON global config file at ``path`` (ConfigError if unreadable or without liteservers)."""
    try:
        config = json.loads(Path(path).expanduser().read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read ton_config {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"ton_config {path} is not JSON: {exc}") from exc
    if not isinstance(config, dict) or not config.get("liteservers"):
        raise ConfigError(
            f"ton_config {path} lists no liteservers; use the network's global config file "
            "(the JSON with a 'liteservers' list)"
        )
    return config


class LiteChain:
    """Implements ``Chain`` with a liteserver client; map of pytoniq errors to ours at every call."""

    def __init__(self, api: LiteApi, *, attempts: int = 3, gate: RateGate | None = None) -> None:
        self._api = api
        self.attempts = attempts
        self.gate = gate or RateGate(0.0, backoff_base_s=0.5)
        self.requests = RequestCounts()
        """Liteserver queries made, by method (``/jsonstats``)."""

    async def _ask(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        """One liteserver query, retried on failure (not on a get-method's exit code)."""
        attempt = 0
        while True:
            await self.gate.admit()
            self.requests.add(method)
            try:
                return await call()
            except Exception as exc:
                attempt += 1
                if isinstance(getattr(exc, "exit_code", None), int) or attempt >= self.attempts:
                    raise
                retries = self.attempts - 1
                log.warning("liteserver %s failed (%s); retry %d of %d", method, exc, attempt, retries)
            await self.gate.back_off(attempt)

    @classmethod
    async def connect_file(cls, path: str) -> LiteChain:
        """:meth:`connect` to the liteservers of the TON global config file at ``path``."""
        return await cls.connect(load_global_config(path))

    @classmethod
    async def connect(
        cls, global_config: dict[str, Any], *, trust_level: int = 2, request_timeout: int = 10
    ) -> LiteChain:
        """Connect a ``LiteBalancer`` to the liteservers of ``global_config`` (production)."""
        from pytoniq import LiteBalancer

        try:
            balancer = LiteBalancer.from_config(
                global_config, trust_level=trust_level, timeout=request_timeout
            )
            await balancer.start_up()
        except Exception as exc:  # pytoniq raises plain Exceptions on connection failures
            raise ChainError(f"cannot connect to the liteservers of the given config: {exc}") from exc
        return cls(balancer)

    async def close(self) -> None:
        close_all = getattr(self._api, "close_all", None)
        if close_all is not None:
            await close_all()

    async def get_account(self, address: Address) -> AccountState:
        try:
            _account, shard_account = await self._ask(
                "raw_get_account_state", lambda: self._api.raw_get_account_state(to_pt_address(address))
            )
        except Exception as exc:
            raise ChainError(f"liteserver: cannot read account {address}: {exc}") from exc
        return account_from_lite(address, shard_account)

    async def get_transactions(
        self, address: Address, *, after_lt: int = 0, limit: int = 100
    ) -> list[Transaction]:
        """Walks back from the newest transaction down to ``after_lt``; returns the oldest ``limit``."""
        if (await self.get_account(address)).last_lt <= after_lt:
            return []
        newest_first: list[Any] = []
        cursor: tuple[int | None, bytes | None] = (None, None)
        try:
            while True:
                page = partial(
                    self._api.get_transactions, to_pt_address(address), PAGE, *cursor, to_lt=after_lt
                )
                batch = await self._ask("get_transactions", page)
                newest_first.extend(batch)
                last = batch[-1] if batch else None
                if last is None or len(batch) < PAGE or int(last.prev_trans_lt) <= after_lt:
                    break
                cursor = (int(last.prev_trans_lt), bytes(last.prev_trans_hash))
        except ChainError:
            raise
        except Exception as exc:
            raise ChainError(f"liteserver: cannot read transactions of {address}: {exc}") from exc
        return transactions_from_lite(address, newest_first, after_lt)[:limit]

    async def run_get_method(
        self, address: Address, method: str, stack: Sequence[StackItem] = ()
    ) -> list[StackItem]:
        try:
            values = await self._ask(
                "run_get_method",
                lambda: self._api.run_get_method(to_pt_address(address), method, list(stack)),
            )
        except Exception as exc:
            exit_code = getattr(exc, "exit_code", None)
            if isinstance(exit_code, int):
                raise ContractError(
                    f"get-method {method!r} of {address} failed with exit code {exit_code}", exit_code
                ) from exc
            raise ChainError(f"liteserver: get-method {method!r} of {address} failed: {exc}") from exc
        return stack_from_lite(values)

    async def send_message(self, message: Cell) -> None:
        try:
            await self._ask("raw_send_message", lambda: self._api.raw_send_message(cell_to_boc(message)))
        except Exception as exc:
            raise ChainError(f"liteserver refused the external message: {exc}") from exc

    async def get_time(self) -> int:
        try:
            answer = await self._ask("get_time", self._api.get_time)
        except Exception as exc:
            raise ChainError(f"liteserver: cannot read the time: {exc}") from exc
        return int(answer["now"] if isinstance(answer, dict) else answer)
