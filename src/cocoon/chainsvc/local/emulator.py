"""The official TON emulator (libemulator from the pytvm wheel), wrapped with typed calls.

We load the shared library from pytvm's package directory explicitly (pytvm's own ``default()`` uses
the deprecated ``pkg_resources``) and always run *full transaction* emulation for messages: the bare
TVM call passes no sender, fees or bounce. The network config cell is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocoon.errors import ChainError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_from_boc, cell_to_boc

_LIB_NAME = "libemulator-linux-x86_64.so"


def load_engine() -> Any:
    """The pytvm C engine bound to the library shipped inside the pytvm package."""
    try:
        from pytvm.engine.engine_c import EmulatorEngineC
    except ImportError as exc:
        raise ChainError("pytvm is not installed; run `pip install -e .` to get the emulator") from exc
    import pytvm

    path = Path(pytvm.__file__).parent / "engine" / _LIB_NAME
    if not path.exists():
        raise ChainError(f"the TON emulator library is missing at {path}; only linux x86-64 wheels ship it")
    engine = EmulatorEngineC(str(path))
    engine.emulator_set_verbosity_level(0)
    return engine


def _b64(cell: Cell) -> bytes:
    return base64.b64encode(cell_to_boc(cell))


def _seed(lt: int) -> bytes:
    # Deterministic randomness: replaying a chain gives the same results.
    return hashlib.sha256(lt.to_bytes(8, "big")).hexdigest().encode()


@dataclass(frozen=True)
class Emulated:
    """Result of one emulated transaction: the new ``ShardAccount`` BoC and the transaction cell."""

    shard_account: bytes
    transaction: Cell
    vm_log: str


@dataclass(frozen=True)
class Rejected:
    """The message produced no transaction (an external the contract did not accept)."""

    exit_code: int
    error: str
    vm_log: str


@dataclass(frozen=True)
class GetMethodOutcome:
    exit_code: int
    stack: Cell
    gas_used: int
    vm_log: str


class Emulator:
    """One transaction emulator and a get-method runner sharing a network config."""

    def __init__(self, config: Cell, engine: Any | None = None) -> None:
        self._engine = engine if engine is not None else load_engine()
        self._config_b64 = _b64(config)
        self._tx = self._engine.transaction_emulator_create(self._config_b64, 0)
        if not self._tx:
            raise ChainError("the TON emulator refused the network config; the config BoC is damaged")

    def close(self) -> None:
        """Free the native emulator (also done on garbage collection)."""
        if self._tx:
            self._engine.transaction_emulator_destroy(self._tx)
            self._tx = None

    def __del__(self) -> None:
        self.close()

    def run_transaction(
        self, shard_account: Cell, message: Cell, *, now: int, lt: int, ignore_chksig: bool = False
    ) -> Emulated | Rejected:
        """Apply ``message`` to the account; ``now`` and ``lt`` are the block's time and start lt.

        ``ignore_chksig`` makes every CHKSIG succeed: for fee estimates of unsigned messages only."""
        eng, em = self._engine, self._tx
        eng.transaction_emulator_set_ignore_chksig(em, ignore_chksig)  # set each time: one shared emulator
        eng.transaction_emulator_set_unixtime(em, now)
        eng.transaction_emulator_set_lt(em, lt)
        eng.transaction_emulator_set_rand_seed(em, _seed(lt))
        account_b64 = base64.b64encode(shard_account)
        result = json.loads(eng.lib.transaction_emulator_emulate_transaction(em, account_b64, _b64(message)))
        if result.get("success"):
            return Emulated(
                shard_account=base64.b64decode(result["shard_account"]),
                transaction=cell_from_boc(base64.b64decode(result["transaction"])),
                vm_log=str(result.get("vm_log", "")),
            )
        if "vm_exit_code" in result or result.get("external_not_accepted"):
            return Rejected(
                int(result.get("vm_exit_code", 0)), str(result.get("error", "")), result.get("vm_log", "")
            )
        raise ChainError(f"the TON emulator failed: {result.get('error', result)}")

    def run_get_method(
        self, *, code: Cell, data: Cell, address: Address, balance: int, now: int, method_id: int, stack: Cell
    ) -> GetMethodOutcome:
        """Run get-method ``method_id`` on (code, data) with a c7 as the chain would set it."""
        eng = self._engine
        vm = eng.tvm_emulator_create(_b64(code), _b64(data), 0)
        try:
            eng.tvm_emulator_set_c7(vm, address.raw.encode(), now, balance, _seed(now), self._config_b64)
            result = json.loads(eng.lib.tvm_emulator_run_get_method(vm, method_id, _b64(stack)))
        finally:
            eng.tvm_emulator_destroy(vm)
        if not result.get("success"):
            raise ChainError(f"the TON emulator failed to run a get-method: {result.get('error', result)}")
        return GetMethodOutcome(
            exit_code=int(result["vm_exit_code"]),
            stack=cell_from_boc(base64.b64decode(result["stack"])),
            gas_used=int(result.get("gas_used", 0)),
            vm_log=str(result.get("vm_log", "")),
        )
