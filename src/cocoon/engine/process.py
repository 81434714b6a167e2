"""Run an engine as a child process (`cocoon engine serve|fake ...`) and wait until it is ready.

Used by the local network and by tests that need a real process (e.g. to kill it mid-stream). The
child prints `READY_PREFIX` + base URL + ``model=<id>`` on stdout when it accepts requests; its
stderr (progress, llama.cpp's messages) is kept in a short ring buffer for error messages and
optionally echoed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cocoon.errors import EngineError, EngineTimeoutError

READY_PREFIX = "engine ready at "


@dataclass
class EngineProcess:
    """A running engine child process."""

    process: asyncio.subprocess.Process
    base_url: str
    model_id: str
    stderr_tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=50))
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    async def stop(self, grace: float = 5.0) -> int:
        """Terminate the child (SIGTERM, then SIGKILL after ``grace`` seconds); return its exit code."""
        await terminate(self.process, grace)
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return self.process.returncode if self.process.returncode is not None else -1


async def terminate(process: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    """Stop a child process: SIGTERM, then SIGKILL if it is still running after ``grace`` seconds."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _pump(stream: asyncio.StreamReader | None, sink: Callable[[str], None]) -> None:
    if stream is None:
        return
    while line := await stream.readline():
        sink(line.decode("utf-8", "replace").rstrip("\n"))


def _parse_ready(line: str) -> tuple[str, str] | None:
    if not line.startswith(READY_PREFIX):
        return None
    url, _, model = line[len(READY_PREFIX) :].partition(" model=")
    return url.strip(), model.strip()


async def spawn_engine(
    args: Sequence[str],
    *,
    ready_within: float = 180.0,
    echo: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
) -> EngineProcess:
    """Start ``cocoon engine <args>`` and return once it prints its ready line.

    ``echo`` receives each stderr line (progress), e.g. to show it to a person. Raises `EngineError`
    with the child's last stderr lines if it exits first, `EngineTimeoutError` after ``ready_within``.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cocoon.cli.main",
        "engine",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    tail: collections.deque[str] = collections.deque(maxlen=50)
    ready: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()

    def on_stderr(line: str) -> None:
        tail.append(line)
        if echo is not None:
            echo(line)

    def on_stdout(line: str) -> None:
        parsed = _parse_ready(line)
        if parsed is not None and not ready.done():
            ready.set_result(parsed)

    pumps = [
        asyncio.create_task(_pump(proc.stderr, on_stderr)),
        asyncio.create_task(_pump(proc.stdout, on_stdout)),
    ]
    child = EngineProcess(process=proc, base_url="", model_id="", stderr_tail=tail, _pumps=pumps)
    exited: asyncio.Future[int] = asyncio.ensure_future(proc.wait())
    try:
        waiters: set[asyncio.Future[Any]] = {ready, exited}
        done, _ = await asyncio.wait(waiters, timeout=ready_within, return_when=asyncio.FIRST_COMPLETED)
        if ready in done:
            child.base_url, child.model_id = ready.result()
            return child
        await child.stop()
        why = "\n  ".join(tail) or "(no output)"
        if exited in done:
            raise EngineError(
                f"`cocoon engine {' '.join(args)}` exited with code {proc.returncode}:\n  {why}"
            )
        raise EngineTimeoutError(
            f"`cocoon engine {' '.join(args)}` was not ready within {ready_within} s:\n  {why}"
        )
    except BaseException:
        await child.stop()
        raise
    finally:
        if not exited.done():
            exited.cancel()
