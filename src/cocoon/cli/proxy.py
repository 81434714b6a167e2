"""`cocoon proxy run`: route, meter and settle requests between clients and workers.

`cocoon proxy close` (closing the proxy's contract) is in :mod:`cocoon.cli.proxy_close`.
"""

from __future__ import annotations

from pathlib import Path

import click

from cocoon.cli.service_runner import load_role_config, run_node, run_until_signal, setup_logging
from cocoon.roles import ProxyConfig


@click.group()
def proxy() -> None:
    """Run a proxy (operators)."""


@proxy.command()
@click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="TOML config."
)
@click.option("--worker-port", type=int, help="RA-TLS port for workers.")
@click.option("--client-port", type=int, help="RA-TLS port for clients.")
@click.option("--http-port", type=int, help="Port of /healthz and /jsonstats.")
@click.option("--data-dir", help="Where the key and the ledger live.")
def run(config_path: Path | None, **flags: object) -> None:
    """Accept workers and clients and route requests between them."""
    config = load_role_config(ProxyConfig, config_path, dict(flags))
    setup_logging(config.log_level, "proxy")
    from cocoon.proxy.build import build_proxy

    run_until_signal(run_node(build_proxy(config)))


# `cocoon proxy close` lives in its own module.
from cocoon.cli import proxy_close as _proxy_close  # noqa: E402, F401
