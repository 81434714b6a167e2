"""``ToncenterChain``: the :class:`~cocoon.ton.chain.Chain` protocol over a toncenter-style HTTP API.

Talks to ``cocoon chain serve`` (the shared local chain) or to a real toncenter v2 endpoint; the JSON
is handled by :mod:`cocoon.ton.toncenter`, transactions are parsed from their BoCs like every backend.
The local network's extras (:meth:`fund`, :meth:`advance_time`) exist only on our server.

Every request of one adapter passes one :class:`~cocoon.chainsvc.limiter.RateGate` (``rate_per_s``; a
public toncenter allows ~1/s key-less, ~10/s with an API key) and is counted by method
(:attr:`ToncenterChain.requests`); a "too many requests" answer (HTTP 429 or toncenter's error body)
is retried after an exponential backoff with jitter, and a ChainError says so after ``max_attempts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import aiohttp

from cocoon.chainsvc.limiter import MAX_ATTEMPTS, RateGate, RequestCounts
from cocoon.errors import ChainDataError, ChainError
from cocoon.ton import toncenter as tc
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_from_boc, cell_to_boc
from cocoon.ton.chain import AccountState, StackItem, Transaction
from cocoon.ton.ratelimit import is_rate_limited

PAGE = 100
_ZERO = Address(0, bytes(32))


class ToncenterChain:
    """Async client of a toncenter v2 API; use as ``async with ToncenterChain(url) as chain``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        rate_per_s: float = 0.0,
        gate: RateGate | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._base = base_url.rstrip("/") + "/api/v2/"
        self._headers = {"X-API-Key": api_key} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.gate = gate or RateGate(rate_per_s, max_attempts=max_attempts)
        """Spaces every request of this adapter (0: unlimited) and paces retries after a 429."""
        self.requests = RequestCounts()
        """Requests made, by toncenter method (``/jsonstats``)."""

    async def __aenter__(self) -> ToncenterChain:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None
    ) -> Any:
        """One API call: wait for the gate, send, and retry with backoff while it is rate-limited."""
        attempt = 0
        while True:
            await self.gate.admit()
            self.requests.add(path)
            status, answer = await self._request(method, path, params, body)
            if not is_rate_limited(status, answer):
                return tc.unwrap(answer)
            self.requests.rate_limited += 1
            attempt += 1
            if attempt >= self.gate.max_attempts:
                raise ChainError(
                    f"the TON API at {self._base} refused {path} as too many requests {attempt} times in a "
                    "row; lower chain_rate_per_s or raise the polling intervals, or set chain_api_key "
                    "(a toncenter key allows about 10 requests/s instead of 1)"
                )
            await self.gate.back_off(attempt)

    async def _request(
        self, method: str, path: str, params: dict[str, str] | None, body: Any
    ) -> tuple[int, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        url = self._base + path
        try:
            async with self._session.request(method, url, params=params, json=body) as resp:
                try:
                    return resp.status, await resp.json(content_type=None)
                except ValueError as exc:
                    if resp.status == 429:
                        return resp.status, None
                    raise ChainError(
                        f"{url} answered HTTP {resp.status} without JSON; is it a toncenter API?"
                    ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChainError(
                f"cannot reach the TON API at {url}: {exc}; is `cocoon chain serve` running?"
            ) from exc

    async def get_account(self, address: Address) -> AccountState:
        result = await self._call("GET", "getAddressInformation", params={"address": address.raw})
        return tc.account_from_json(address, result)

    async def get_transactions(
        self, address: Address, *, after_lt: int = 0, limit: int = 100
    ) -> list[Transaction]:
        """Walks back from the newest transaction to ``after_lt`` (toncenter pages newest first)."""
        newest_first: list[Transaction] = []
        params = {"address": address.raw, "limit": str(PAGE), "to_lt": str(after_lt)}
        while True:
            page = await self._call("GET", "getTransactions", params=params)
            txs = [tc.transaction_from_json(address, item) for item in page]
            if newest_first and txs and txs[0].lt == newest_first[-1].lt:
                txs = txs[1:]  # the (lt, hash) cursor is inclusive
            newest_first.extend(tx for tx in txs if tx.lt > after_lt)
            if len(page) < PAGE or not txs or txs[-1].lt <= after_lt:
                break
            params = {**params, "lt": str(txs[-1].lt), "hash": tc.b64(txs[-1].hash)}
        return newest_first[::-1][:limit]

    async def run_get_method(
        self, address: Address, method: str, stack: Sequence[StackItem] = ()
    ) -> list[StackItem]:
        body = {"address": address.raw, "method": method, "stack": tc.stack_to_json(stack)}
        result = await self._call("POST", "runGetMethod", body=body)
        return tc.get_method_result(result, address, method)

    async def send_message(self, message: Cell) -> None:
        await self._call("POST", "sendBoc", body={"boc": tc.b64(cell_to_boc(message))})

    async def get_time(self) -> int:
        result = await self._call("GET", "getAddressInformation", params={"address": _ZERO.raw})
        return int(result["sync_utime"])

    async def get_config_param(self, index: int) -> Cell:
        """Network config parameter ``index`` (toncenter's ``getConfigParam``)."""
        result = await self._call("GET", "getConfigParam", params={"config_id": str(index)})
        try:
            return cell_from_boc(tc.unb64(result["config"]["bytes"]))
        except (KeyError, TypeError) as exc:
            raise ChainDataError(f"unexpected getConfigParam answer: {result!r:.200}") from exc

    async def fund(self, address: Address, value: int) -> None:
        """Faucet transfer (our local chain server only)."""
        await self._call("POST", "local/faucet", body={"address": address.raw, "amount": value})

    async def advance_time(self, seconds: int) -> int:
        """Move the local chain's clock forward (our server only); returns the new time."""
        result = await self._call("POST", "local/advanceTime", body={"seconds": seconds})
        return int(result["now"])
