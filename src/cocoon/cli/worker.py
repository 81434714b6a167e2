"""`cocoon worker run`: serve a model to proxies and earn TON."""

from __future__ import annotations

from pathlib import Path

import click

from cocoon.cli.service_runner import load_role_config, run_until_signal, serve_http, setup_logging
from cocoon.roles import WorkerConfig


@click.group()
def worker() -> None:
    """Run a worker (GPU owners)."""


@worker.command()
@click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="TOML config."
)
@click.option("--engine-url", help="OpenAI-compatible engine base URL (e.g. http://127.0.0.1:8000).")
@click.option("--model", help="Model id to serve (default: the engine's first).")
@click.option("--coefficient", type=int, help="Price coefficient, 1000 = 1.0x.")
@click.option("--max-active", type=int, help="Requests served at once.")
@click.option("--proxy", "proxies", multiple=True, help="Proxy host:port for workers (repeatable).")
@click.option("--owner-address", help="TON address that earns this worker's fees.")
@click.option("--http-port", type=int, help="Port of /healthz and /jsonstats.")
@click.option("--data-dir", help="Where the node key lives.")
@click.option("--gpu", help="GPU model for the preflight check (e.g. 'H100 80GB'; see `cocoon plan gpus`).")
@click.option("--vram-gb", type=float, help="VRAM per GPU in GB for the preflight check.")
def run(config_path: Path | None, proxies: tuple[str, ...], **flags: object) -> None:
    """Connect to proxies and serve their requests through the engine."""
    overrides = dict(flags, proxies=list(proxies) or None)
    config = load_role_config(WorkerConfig, config_path, overrides)
    setup_logging(config.log_level, "worker")
    run_until_signal(_main(config))


async def _main(config: WorkerConfig) -> None:
    from cocoon.engine.client import EngineClient
    from cocoon.net.node import hex_set, make_identity, make_policy
    from cocoon.worker.service import WorkerService, make_stats_app

    proxy_images = hex_set(config.allowed_proxy_image_hashes, 32, "allowed_proxy_image_hashes")

    async with EngineClient(config.engine_url) as engine:
        service = WorkerService(
            config,
            engine,
            make_identity(config.data_dir, config.quote_provider),
            make_policy(config.proxy_policy, proxy_images),
        )
        runner = await serve_http(make_stats_app(service), config.host, config.http_port)
        try:
            await service.run()
        finally:
            await runner.cleanup()
