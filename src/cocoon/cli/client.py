"""`cocoon client run`: the OpenAI-compatible API on localhost, paid in TON."""

from __future__ import annotations

from pathlib import Path

import click

from cocoon.cli.service_runner import load_role_config, run_until_signal, serve_http, setup_logging
from cocoon.roles import ClientConfig


@click.group()
def client() -> None:
    """Run a client daemon (app developers)."""


@client.command()
@click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="TOML config."
)
@click.option("--proxy", "proxies", multiple=True, help="Proxy host:port for clients (repeatable).")
@click.option("--http-port", type=int, help="Port of the OpenAI API (default 10000).")
@click.option("--data-dir", help="Where the client key lives.")
def run(config_path: Path | None, proxies: tuple[str, ...], **flags: object) -> None:
    """Serve the OpenAI API and send requests into the network."""
    config = load_role_config(ClientConfig, config_path, dict(flags, proxies=list(proxies) or None))
    setup_logging(config.log_level, "client")
    run_until_signal(_main(config))


async def _main(config: ClientConfig) -> None:
    from cocoon.api.validation import Limits
    from cocoon.attestation.statement_policy import StatementPolicy, StatementRequirements
    from cocoon.client.http_api import make_client_app
    from cocoon.client.network import ProxyPool
    from cocoon.client.receipts import ReceiptBook
    from cocoon.net.node import hex_set, make_identity, make_policy
    from cocoon.registry.nodes import with_root_proxies

    config = await with_root_proxies(config, "client")  # on a chain, the root lists the proxies
    proxy_images = hex_set(config.allowed_proxy_image_hashes, 32, "allowed_proxy_image_hashes")
    policy = StatementPolicy(
        make_policy(config.proxy_policy, proxy_images),
        StatementRequirements(max_age_s=config.max_statement_age_s),
    )
    pool = ProxyPool(config.proxies, make_identity(config.data_dir, config.quote_provider), policy)
    receipts = ReceiptBook(
        max_statement_age_s=config.max_statement_age_s,
        directory=config.receipts_dir,
    )
    limits = Limits(max_body_bytes=config.max_body_bytes, default_max_tokens=config.default_max_tokens)
    app = make_client_app(pool, limits, receipts=receipts)
    runner = await serve_http(app, config.host, config.http_port, cancel_on_disconnect=True)
    try:
        await pool.run_forever()
    finally:
        await runner.cleanup()
