"""Starting, watching and stopping the local network's processes.

Each service is a separate OS process (as in production) whose output goes to a log file. Readiness is
an HTTP GET on the service's health URL. Stopping is SIGTERM, a grace period, then SIGKILL; on Linux
every child also gets PR_SET_PDEATHSIG so that even a SIGKILLed supervisor leaves no orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import CocoonError


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How to run one service."""

    name: str
    argv: Sequence[str]
    health_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 60.0


@dataclass(slots=True)
class ServiceState:
    spec: ServiceSpec
    process: asyncio.subprocess.Process
    log_path: Path
    started_at: float
    ready: bool = False

    @property
    def state(self) -> str:
        if self.process.returncode is not None:
            return f"exited ({self.process.returncode})"
        return "ready" if self.ready else "starting"


def _set_parent_death_signal() -> None:
    """Runs in the child before exec: die with SIGTERM when the parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Owns the child processes of `cocoon up` (and of tests that start real processes)."""

    def __init__(self, log_dir: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.log_dir = log_dir
        self.clock = clock
        """Times the readiness timeouts (monotonic)."""
        self.services: dict[str, ServiceState] = {}

    async def start(self, spec: ServiceSpec) -> ServiceState:
        """Start a service; its stdout and stderr go to `<log_dir>/<name>.log`."""
        if spec.name in self.services:
            raise CocoonError(f"service {spec.name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
                preexec_fn=_set_parent_death_signal,
            )
        state = ServiceState(spec, process, log_path, self.clock.monotonic())
        self.services[spec.name] = state
        return state

    async def wait_ready(self, name: str) -> None:
        """Poll the health URL until it answers 200; fail fast if the process exits meanwhile."""
        state = self.services[name]
        if state.spec.health_url is None:
            state.ready = True
            return
        deadline = self.clock.monotonic() + state.spec.ready_timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while self.clock.monotonic() < deadline:
                if state.process.returncode is not None:
                    raise CocoonError(
                        f"{name} exited with code {state.process.returncode} while starting; "
                        f"see its log: {state.log_path}\n{self.tail(name)}"
                    )
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with session.get(state.spec.health_url) as resp:
                        if resp.status == 200:
                            state.ready = True
                            return
                await asyncio.sleep(0.1)
        raise CocoonError(
            f"{name} did not become ready within {state.spec.ready_timeout_s:.0f} s; "
            f"see its log: {state.log_path}\n{self.tail(name)}"
        )

    async def start_all(self, specs: Sequence[ServiceSpec]) -> None:
        """Start services in parallel and wait until all are ready."""
        for spec in specs:
            await self.start(spec)
        await asyncio.gather(*(self.wait_ready(spec.name) for spec in specs))

    def tail(self, name: str, lines: int = 15) -> str:
        """The last lines of a service's log, for error messages."""
        try:
            text = self.services[name].log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    async def stop(self, name: str, grace_s: float = 5.0) -> int | None:
        """SIGTERM, wait up to `grace_s`, then SIGKILL. Returns the exit code."""
        process = self.services[name].process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return process.returncode

    async def kill(self, name: str) -> None:
        """SIGKILL at once (fault injection)."""
        process = self.services[name].process
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    async def stop_all(self, grace_s: float = 5.0) -> None:
        """Stop every service, the most recently started first (clients before proxies before engines)."""
        for name in reversed(list(self.services)):
            await self.stop(name, grace_s)
