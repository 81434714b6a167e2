"""`cocoon proxy run`: route, meter and settle requests between clients and workers."""

from __future__ import annotations

from pathlib import Path

import click

from cocoon.cli.service_runner import load_role_config, run_until_signal, serve_http, setup_logging
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
    run_until_signal(_main(config))


async def _main(config: ProxyConfig) -> None:
    import asyncio
    import contextlib

    from cocoon.net.node import config_claims, make_identity, make_policy
    from cocoon.proxy.admission import ConfigAllowlist, WorkerAdmission
    from cocoon.proxy.chain_link import open_chain_link
    from cocoon.proxy.ledger import Ledger
    from cocoon.proxy.service import ProxyService, ledger_path, make_stats_app

    allowlist = ConfigAllowlist(
        config.allowed_worker_image_hashes, config.allowed_worker_mrtds, config.allowed_model_hashes
    )
    worker_policy = WorkerAdmission(make_policy(config.worker_policy), allowlist)
    ledger = Ledger(ledger_path(config.data_dir))
    identity = make_identity(config.data_dir, config.quote_provider, claims=config_claims(config))
    async with contextlib.AsyncExitStack() as stack:  # unwinds in reverse: HTTP, service, chain, ledger
        stack.callback(ledger.close)
        chain = await open_chain_link(config, ledger, stack) if config.chain_url else None
        service = ProxyService(
            config, identity, worker_policy, make_policy(config.client_policy), ledger, chain
        )
        await service.start()
        stack.push_async_callback(service.aclose)
        runner = await serve_http(make_stats_app(service), config.host, config.http_port)
        stack.push_async_callback(runner.cleanup)
        if chain is None:
            await service.refresh()
        else:
            await asyncio.gather(service.refresh(), chain.run(service.registry))
