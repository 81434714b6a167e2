"""`cocoon client run`: the OpenAI-compatible API on localhost, paid in TON."""

from __future__ import annotations

from pathlib import Path

import click

from cocoon.cli.admin_auth import admin_token_options
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


# --- API keys (a file next to the data dir; a running daemon sees changes within a second) -------

_CONFIG = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="TOML config."
)
_DATA_DIR = click.option("--data-dir", help="The client's data dir (the key file is api_keys.json in it).")


def _keys_path(config_path: Path | None, data_dir: str | None) -> Path:
    from cocoon.client.keys import keys_file_path

    config = load_role_config(ClientConfig, config_path, {"data_dir": data_dir})
    path = keys_file_path(config.data_dir, config.api_keys_file)
    if path is None:
        raise click.ClickException(
            "no place for the API key file: pass --data-dir or -c with a config setting data_dir "
            "or api_keys_file (COCOON_DATA_DIR / COCOON_API_KEYS_FILE work too)"
        )
    return path


@client.group()
def keys() -> None:
    """API keys of the client daemon, each with an optional daily spend limit."""


@keys.command("add")
@click.option("--name", default="", help="Name of the key (default key-1, key-2, ...).")
@click.option(
    "--daily-limit-ton", help="Most TON the key may spend per UTC day, e.g. 0.5 (default: no limit)."
)
@_CONFIG
@_DATA_DIR
def keys_add(name: str, daily_limit_ton: str | None, config_path: Path | None, data_dir: str | None) -> None:
    """Make a key; its secret is shown once and only its hash is stored."""
    from cocoon.client.keys import add_key
    from cocoon.clock import SYSTEM_CLOCK
    from cocoon.payments.params import parse_ton

    try:
        limit = parse_ton(daily_limit_ton) if daily_limit_ton is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--daily-limit-ton") from exc
    path = _keys_path(config_path, data_dir)
    key, secret = add_key(path, name=name, daily_limit_nano=limit, now=SYSTEM_CLOCK.time())
    click.echo(f"added API key {key.name!r} to {path}; its secret, shown only now:")
    click.echo(secret)


@keys.command("list")
@_CONFIG
@_DATA_DIR
def keys_list(config_path: Path | None, data_dir: str | None) -> None:
    """List the keys (names, limits, revoked); their usage and spend are on the daemon's /jsonstats."""
    import datetime

    from cocoon.client.keys import load_keys
    from cocoon.payments.params import format_ton

    path = _keys_path(config_path, data_dir)
    found = load_keys(path).keys
    if not found:
        click.echo(f"no API keys in {path}; add one with `cocoon client keys add`")
    for key in found:
        created = datetime.datetime.fromtimestamp(key.created, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        limit = "no limit" if key.daily_limit_nano is None else f"{format_ton(key.daily_limit_nano)} TON/day"
        click.echo(f"{key.name}\t{limit}\tcreated {created}" + ("\tREVOKED" if key.revoked else ""))


@keys.command("revoke")
@click.argument("name")
@_CONFIG
@_DATA_DIR
def keys_revoke(name: str, config_path: Path | None, data_dir: str | None) -> None:
    """Revoke a key: the running daemon refuses it within a second."""
    from cocoon.client.keys import revoke_key

    path = _keys_path(config_path, data_dir)
    revoke_key(path, name)
    click.echo(f"revoked API key {name!r} in {path}")


# --- the client contracts (talk to the running daemon, which owns the node wallet) -----------------

_HTTP = click.option(
    "--http",
    "http_url",
    default="http://127.0.0.1:10000",
    show_default=True,
    help="The client daemon (its admin_port when it runs a separate admin server).",
)
_API_KEY = click.option(
    "--api-key", envvar="COCOON_CLIENT_API_KEY", default="", help="API key, when the daemon has keys."
)


def _admin(config_path: Path | None, data_dir: str | None, admin_token: str | None) -> str:
    from cocoon.cli.admin_auth import resolve_admin_token

    return resolve_admin_token(ClientConfig, config_path, data_dir, admin_token)


def _payments(
    http_url: str,
    api_key: str,
    action: str | None = None,
    body: dict[str, object] | None = None,
    admin_token: str = "",
) -> None:
    import json
    import urllib.error
    import urllib.request

    from cocoon.cli.admin_auth import admin_headers
    from cocoon.payments.params import format_ton

    url = f"{http_url.rstrip('/')}/payments" + (f"/{action}" if action else "")
    data = json.dumps(body or {}).encode() if action else None
    request = urllib.request.Request(url, data=data, method="POST" if action else "GET")
    request.add_header("content-type", "application/json")
    if api_key:
        request.add_header("authorization", f"Bearer {api_key}")
    if admin_token:
        for name, value in admin_headers(admin_token, beside_api_key=True).items():
            request.add_header(name, value)
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
@_API_KEY
def balance(http_url: str, api_key: str) -> None:
    """Show each client contract: balance, stake, what was charged and what is not yet."""
    _payments(http_url, api_key)


@client.command()
@click.argument("ton")
@_HTTP
@_API_KEY
@_CONFIG
@admin_token_options
def topup(
    ton: str,
    http_url: str,
    api_key: str,
    config_path: Path | None,
    data_dir: str | None,
    admin_token: str | None,
) -> None:
    """Add TON to every client contract; decimals allowed, e.g. 2.5"""
    from cocoon.payments.params import parse_ton

    try:
        nano = parse_ton(ton)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    _payments(http_url, api_key, "topup", {"nano": nano}, _admin(config_path, data_dir, admin_token))


@client.command()
@_HTTP
@_API_KEY
@_CONFIG
@admin_token_options
def withdraw(
    http_url: str, api_key: str, config_path: Path | None, data_dir: str | None, admin_token: str | None
) -> None:
    """Take back everything above the stake at once."""
    _payments(http_url, api_key, "withdraw", admin_token=_admin(config_path, data_dir, admin_token))


@client.command()
@_HTTP
@_API_KEY
@_CONFIG
@admin_token_options
def close(
    http_url: str, api_key: str, config_path: Path | None, data_dir: str | None, admin_token: str | None
) -> None:
    """Close the client contracts: the proxy signs a final charge and the rest comes back at once.
    If the proxy does not answer, run it again after the network's client close delay (forced)."""
    _payments(http_url, api_key, "close", admin_token=_admin(config_path, data_dir, admin_token))
