"""`cocoon client run`: the OpenAI-compatible API on localhost, paid in TON."""

from __future__ import annotations

from pathlib import Path

import click

from cocoon.cli.service_runner import load_role_config, run_node, run_until_signal, setup_logging
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
    from cocoon.client.build import build_client

    run_until_signal(run_node(build_client(config)))


# --- the client contracts (talk to the running daemon, which owns the node wallet) -----------------

_HTTP = click.option(
    "--http", "http_url", default="http://127.0.0.1:10000", show_default=True, help="The client daemon."
)


def _payments(http_url: str, action: str | None = None, body: dict[str, object] | None = None) -> None:
    import json
    import urllib.error
    import urllib.request

    from cocoon.payments.params import format_ton

    url = f"{http_url.rstrip('/')}/payments" + (f"/{action}" if action else "")
    data = json.dumps(body or {}).encode() if action else None
    request = urllib.request.Request(url, data=data, method="POST" if action else "GET")
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(
            f"the client daemon refused: {exc.read().decode(errors='replace')}"
        ) from exc
    except OSError as exc:
        raise click.ClickException(
            f"cannot reach the client daemon at {http_url} ({exc}); is it running?"
        ) from exc
    click.echo(f"wallet {answer['wallet']}")
    for proxy, ch in answer["channels"].items():
        state = {0: "open", 1: "closing", 2: "closed"}.get(ch["state"], "not deployed")
        money = {k: format_ton(ch[k] or 0) for k in ("balance_nano", "stake_nano", "uncharged_nano")}
        click.echo(
            f"proxy contract {proxy}\n  client contract {ch['contract']} ({state})\n"
            f"  balance {money['balance_nano']} TON, stake {money['stake_nano']} TON, "
            f"charged {ch['charged_tokens']} tokens, not yet charged {money['uncharged_nano']} TON"
        )


@client.command()
@_HTTP
def balance(http_url: str) -> None:
    """Show each client contract: balance, stake, what was charged and what is not yet."""
    _payments(http_url)


@client.command()
@click.argument("ton")
@_HTTP
def topup(ton: str, http_url: str) -> None:
    """Add TON to every client contract; decimals allowed, e.g. 2.5"""
    from cocoon.payments.params import parse_ton

    try:
        nano = parse_ton(ton)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    _payments(http_url, "topup", {"nano": nano})


@client.command()
@_HTTP
def withdraw(http_url: str) -> None:
    """Take back everything above the stake at once."""
    _payments(http_url, "withdraw")


@client.command()
@_HTTP
def close(http_url: str) -> None:
    """Close the client contracts: the proxy signs a final charge and the rest comes back at once.
    If the proxy does not answer, run it again after the network's client close delay (forced)."""
    _payments(http_url, "close")
