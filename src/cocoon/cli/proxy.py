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
    import logging

    from cocoon.net.node import config_claims, make_identity, make_policy
    from cocoon.proxy.admission import AllowlistSource, ConfigAllowlist, RegistryAllowlist, WorkerAdmission
    from cocoon.proxy.ledger import Ledger
    from cocoon.proxy.service import ProxyService, ledger_path, make_stats_app
    from cocoon.proxy.settlement import open_settlement
    from cocoon.registry.nodes import follow_root, read_root
    from cocoon.registry.snapshot import RegistrySnapshot

    log = logging.getLogger("cocoon.proxy")

    allowlist: AllowlistSource = ConfigAllowlist(
        config.allowed_worker_image_hashes,
        config.allowed_worker_mrtds,
        config.allowed_model_hashes,
        config.allowed_worker_rtmrs,
    )
    on_registry = None
    configured = (
        config.allowed_worker_image_hashes
        or config.allowed_worker_mrtds
        or config.allowed_model_hashes
        or config.allowed_worker_rtmrs
    )
    if config.chain_url and not configured:
        # On a chain the root's hash sets admit workers, read before the first handshake and followed.
        first = await read_root(config)
        registry_list = RegistryAllowlist(first)
        allowlist = registry_list

        def on_registry(snapshot: RegistrySnapshot) -> None:
            registry_list.update(snapshot)
            if snapshot.params_version != first.params_version:
                log.warning(
                    "the root's params changed (version %d -> %d): this proxy's contract keeps the old "
                    "prices; close it and restart to deploy one under the new params",
                    first.params_version,
                    snapshot.params_version,
                )

    worker_policy = WorkerAdmission(make_policy(config.worker_policy), allowlist)
    ledger = Ledger(ledger_path(config.data_dir))
    identity = make_identity(config.data_dir, config.quote_provider, claims=config_claims(config))
    async with contextlib.AsyncExitStack() as stack:  # unwinds in reverse: HTTP, service, chain, ledger
        stack.callback(ledger.close)
        chain = await open_settlement(config, ledger, stack) if config.chain_url else None
        service = ProxyService(
            config, identity, worker_policy, make_policy(config.client_policy), ledger, chain
        )
        await service.start()
        stack.push_async_callback(service.aclose)
        runner = await serve_http(make_stats_app(service), config.host, config.http_port)
        stack.push_async_callback(runner.cleanup)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(service.refresh())
            if chain is not None:
                tasks.create_task(chain.run(service.registry))
            if on_registry is not None:
                tasks.create_task(follow_root(config, on_registry))
