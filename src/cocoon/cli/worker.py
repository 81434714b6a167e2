"""`cocoon worker run`: serve a model to proxies and earn TON."""

from __future__ import annotations

from pathlib import Path

import click

from cocoon.cli.admin_auth import admin_token_options
from cocoon.cli.service_runner import load_role_config, run_node, run_until_signal, setup_logging
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
    from cocoon.worker.build import build_worker

    run_until_signal(run_node(build_worker(config)))


@worker.command()
@click.option(
    "--http", "http_url", default="http://127.0.0.1:12000", show_default=True, help="The worker's HTTP."
)
@click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="TOML config."
)
@admin_token_options
def payout(http_url: str, config_path: Path | None, data_dir: str | None, admin_token: str | None) -> None:
    """Cash out now: submit the latest signed payout of every proxy to this worker's contracts."""
    import json
    import urllib.error
    import urllib.request

    from cocoon.cli.admin_auth import admin_headers, resolve_admin_token

    token = resolve_admin_token(WorkerConfig, config_path, data_dir, admin_token)
    url = f"{http_url.rstrip('/')}/payout"
    request = urllib.request.Request(url, method="POST", data=b"", headers=admin_headers(token))
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"the worker refused: {exc.read().decode(errors='replace')}") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the worker at {http_url} ({exc}); is it running?") from exc
    click.echo(f"submitted {answer['submitted']} payout(s)")
    for proxy, channel in answer.get("channels", {}).items():
        left = f" (left: {channel['leaving']})" if channel.get("leaving") else ""
        click.echo(
            f"  proxy contract {proxy}: paid {channel['paid_tokens']} of {channel['signed_tokens']} tokens"
            + left
        )
