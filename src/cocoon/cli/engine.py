"""`cocoon engine`: run an OpenAI-compatible inference engine (the built-in model, or the fake one).

Both commands print one line on stdout when they accept requests:

    engine ready at http://127.0.0.1:8000/v1 model=<id>

(`cocoon.engine.process.READY_PREFIX`); progress goes to stderr. Port 0 picks a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import click

from cocoon.cli.service_runner import run_until_signal
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.process import READY_PREFIX


def _ready(base_url: str, model_id: str) -> None:
    click.echo(f"{READY_PREFIX}{base_url} model={model_id}")
    sys.stdout.flush()


def _progress(message: str) -> None:
    click.echo(f"engine: {message}", err=True)


@click.group()
def engine() -> None:
    """Run an inference engine (built-in model or fake)."""


@engine.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--n-ctx", default=2048, show_default=True, help="Context window of each slot, in tokens.")
@click.option(
    "--slots",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests decoded together (continuous batching); more wait in the engine's queue.",
)
@click.option("--threads", type=int, default=None, help="CPU threads (default: all).")
@click.option(
    "--model-path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Serve this GGUF instead of the built-in SmolLM2-135M-Instruct.",
)
@click.option("--model-name", default=None, help="Name part of the model id for --model-path.")
def serve(
    host: str,
    port: int,
    n_ctx: int,
    slots: int,
    threads: int | None,
    model_path: Path | None,
    model_name: str | None,
) -> None:
    """Serve the built-in model with llama.cpp's own server (llama-server, CPU), OpenAI-compatible."""
    from cocoon.engine.builtin import BuiltinSettings, ReadyInfo
    from cocoon.engine.builtin import serve as serve_builtin

    settings = BuiltinSettings(
        host=host,
        port=port,
        n_ctx=n_ctx,
        slots=slots,
        n_threads=threads,
        model_path=model_path,
        model_name=model_name,
    )

    def ready(info: ReadyInfo) -> None:
        _progress(f"model loaded in {info.load_seconds:.2f} s; {info.slots} slots")
        _ready(info.base_url, info.model_id)

    # SIGTERM and Ctrl-C cancel the supervisor, which stops llama-server before this process exits.
    run_until_signal(serve_builtin(settings, progress=_progress, on_ready=ready))


@engine.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--model", default=FAKE_MODEL, show_default=True, help="Model id it serves.")
@click.option("--chunks", default=8, show_default=True, help="Content chunks (tokens) per answer.")
@click.option("--chunk-size", default=0, show_default=True, help="Characters per chunk (0: one prompt word).")
@click.option("--delay-ms", default=0.0, show_default=True, help="Pause before each chunk.")
@click.option("--first-delay-ms", default=0.0, show_default=True, help="Extra pause before the first chunk.")
@click.option("--prompt-tokens", type=int, default=None, help="Reported prompt tokens (default: chars/4).")
@click.option("--cached-tokens", default=0, show_default=True, help="Reported cached prompt tokens.")
@click.option(
    "--completion-tokens", type=int, default=None, help="Reported completion tokens (default: chunks)."
)
@click.option("--reasoning-tokens", default=0, show_default=True, help="Reported reasoning tokens.")
@click.option("--fail-status", type=int, default=None, help="Answer every request with this HTTP error.")
@click.option("--drop-after", type=int, default=None, help="Cut the connection after this many chunks.")
@click.option("--hang-after", type=int, default=None, help="Stop sending after this many chunks.")
@click.option(
    "--embeddings/--no-embeddings",
    default=True,
    show_default=True,
    help="Serve /v1/embeddings (--no-embeddings: answer 404 there, as a generative-only engine).",
)
@click.option(
    "--responses/--no-responses",
    default=True,
    show_default=True,
    help="Serve /v1/responses itself, as vLLM (--no-responses: 404 there, chat completions only).",
)
@click.option(
    "--transcriptions/--no-transcriptions",
    default=True,
    show_default=True,
    help="Serve /v1/audio/transcriptions (--no-transcriptions: 404 there, as a text-only engine).",
)
def fake(host: str, port: int, **settings: object) -> None:
    """Serve the deterministic fake engine (tests, benchmarks, fault injection)."""
    from cocoon.engine.fake import start_fake_engine

    config = FakeEngineConfig().replace(dict(settings))

    async def run() -> None:
        running = await start_fake_engine(config, host=host, port=port)
        _ready(running.base_url, config.model)
        try:
            await asyncio.Event().wait()
        finally:
            await running.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@engine.command("model-id")
@click.option(
    "--model-path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A GGUF file (default: the built-in SmolLM2-135M-Instruct).",
)
@click.option("--model-name", default=None, help="Name part of the model id for --model-path.")
def model_id(model_path: Path | None, model_name: str | None) -> None:
    """Print the model id (name@revision:sha256-of-weights) that `serve` would use."""
    from cocoon.engine.builtin import BuiltinSettings, resolve_model

    _path, identity = resolve_model(BuiltinSettings(model_path=model_path, model_name=model_name))
    click.echo(identity.id)
