"""`cocoon proxy close`: close this proxy's contract through the running proxy, and show the progress.

    cocoon proxy close                         # the proxy on this machine (its http_port from -c / default)
    cocoon proxy close --url http://127.0.0.1:11000
    cocoon proxy close --owner-key owner.key   # the owner's path: owner_proxy_close from the owner wallet

Why through the running proxy (``POST /request/close`` on its HTTP port, accepted from loopback only
and with the proxy's admin token, read from ``--data-dir`` or -c's data_dir, or ``--admin-token``)
and not from its data directory: the running proxy owns the ledger (one SQLite writer), the channel
totals of requests still being answered and its wallet's seqno; a second process signing from the same
key and database would race it on all three while it kept serving. The proxy persists the request
first and carries the close through on its own ticks; a proxy stopped mid-close resumes at its next
`cocoon proxy run` (it reads the request and its contract's state at start, takes no requests, and
goes on). A proxy that is not running can still be closed by its owner: ``--owner-key`` (with
``--contract``) sends ``owner_proxy_close`` from the owner's wallet (that needs no proxy), and the
proxy finishes the close when it runs. While the proxy runs, ``--owner-key`` must not be the proxy's
own wallet (two processes signing for one wallet race on its seqno).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from cocoon.cli.admin_auth import admin_headers, admin_token_options, resolve_admin_token
from cocoon.cli.proxy import proxy
from cocoon.cli.wallet import chain_url_option
from cocoon.errors import ChainError, ConfigError
from cocoon.payments.params import format_ton
from cocoon.ton.address import Address


def _call(method: str, url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url, data=b"{}" if method == "POST" else None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise ConfigError(f"the proxy at {url} refused: {detail}") from None
    except OSError as exc:
        raise ConfigError(
            f"no proxy answers at {url} ({exc}); start it with `cocoon proxy run` (a proxy whose close was "
            "asked, or whose contract is closing, carries the close through at start) or give --url"
        ) from None


def _admin_address(admin_host: str) -> str:
    """Where this machine reaches a proxy's admin server bound to ``admin_host`` (a wildcard: loopback)."""
    if admin_host in ("0.0.0.0", "::", "[::]"):
        return "127.0.0.1"
    return f"[{admin_host}]" if ":" in admin_host and not admin_host.startswith("[") else admin_host


def progress(status: dict[str, Any]) -> str:
    """One line saying where a close stands (the proxy's close status)."""
    phase = status["phase"]
    if phase == "requesting":
        return "asked: no new requests; waiting for the close request to land on the proxy contract"
    if phase == "settling":
        pending = status["pending"]
        if not pending:
            return "closing: finishing the requests in flight and committing every total on chain"
        kinds = [p["kind"] for p in pending]
        return (
            f"closing: final refunds to {kinds.count('client')} client(s) and last payouts to "
            f"{kinds.count('worker')} worker(s) on their way"
        )
    if phase == "waiting":
        return (
            f"waiting out the proxy close delay: {status['seconds_left']} s left on the chain's clock "
            f"(unlocks at {status['unlock_ts']}); clients and workers may still submit"
        )
    if phase == "completing":
        return "sending close_complete: commission and stake go to the owner"
    if phase == "closed":
        return f"closed: the proxy contract {status['proxy_contract']} sent everything it held to its owner"
    return f"phase {phase}"


def _reachable(url: str) -> Any:
    """The JSON at ``url``, or ``None`` when nothing answers there."""
    try:
        return _call("GET", url)
    except ConfigError:
        return None


def _owner_close(owner_key: Path, chain_url: str, contract: str, proxy_wallet: str | None) -> None:
    """Send owner_proxy_close from the wallet in ``owner_key`` (checked to be the contract's owner, and
    not the wallet of the running proxy: two processes signing for one wallet race on its seqno)."""
    from cocoon.cli.wallet import with_chain
    from cocoon.proxy.settlement.payment_signer import new_query_id
    from cocoon.ton import messages as m
    from cocoon.ton.data import ProxyData
    from cocoon.ton.ops import TON
    from cocoon.wallet import NodeWallet, load_key_file

    key = load_key_file(owner_key.expanduser())
    address = Address.parse(contract)

    async def run(chain: Any) -> None:
        wallet = NodeWallet(chain, key)
        if proxy_wallet is not None and Address.parse(proxy_wallet) == wallet.address:
            raise ConfigError(
                "this is the running proxy's own wallet; run `cocoon proxy close` without --owner-key "
                "(the proxy signs the close itself)"
            )
        state = await chain.get_account(address)
        if state.data is None:
            raise ChainError(f"the proxy contract {address.raw} is not deployed")
        data = ProxyData.from_cell(state.data)
        if data.owner != wallet.address:
            owner = data.owner.raw if data.owner else "(none)"
            raise ConfigError(f"{wallet.address.raw} does not own the proxy contract (its owner is {owner})")
        if data.state != 0:
            click.echo(f"the proxy contract is already closing or closed (state {data.state})")
            return
        body = m.OwnerProxyClose(query_id=new_query_id(), excess_to=wallet.address).to_cell()
        await wallet.send(address, TON // 5, body)
        click.echo(f"sent owner_proxy_close from {wallet.address.raw}")

    with_chain(chain_url, run)


QUIET_S = 15.0
"""While only the seconds left change, a progress line at most this often."""


@proxy.command()
@click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="TOML config."
)
@click.option("--url", help="The proxy's HTTP endpoint (default: the config's admin_host and http_port).")
@click.option(
    "--owner-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Close as the contract's owner: send owner_proxy_close from this wallet key.",
)
@click.option("--contract", help="With --owner-key: the proxy contract (default: asked from the proxy).")
@chain_url_option
@admin_token_options
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the close until done.")
@click.option(
    "--poll-s", type=click.FloatRange(0.1), default=2.0, show_default=True, help="Seconds between polls."
)
def close(
    config_path: Path | None,
    url: str | None,
    owner_key: Path | None,
    contract: str | None,
    chain_url: str,
    data_dir: str | None,
    admin_token: str | None,
    wait: bool,
    poll_s: float,
) -> None:
    """Close this proxy's contract: no new requests, every client refunded, every worker paid what it is
    owed, the close delay waited out, then commission and stake withdrawn to the owner."""
    from cocoon.cli.service_runner import load_role_config
    from cocoon.roles import ProxyConfig

    if url is None:
        config = load_role_config(ProxyConfig, config_path, {})
        url = f"http://{_admin_address(config.admin_host)}:{config.http_port}"
    url = url.rstrip("/")
    if owner_key is not None:
        running = _reachable(f"{url}/jsonstats")
        wallet = running["chain"]["wallet"] if running and running.get("chain") else None
        if contract is None:
            if running is None:
                raise ConfigError(f"no proxy answers at {url}: give the proxy contract with --contract")
            contract = running["chain"]["proxy_contract"]
        _owner_close(owner_key, chain_url, contract, wallet)
        if running is None:
            click.echo("the proxy is not running: its next `cocoon proxy run` finishes the close")
            return
        if not wait:
            return
        status = _call("GET", f"{url}/close")
    else:
        token = resolve_admin_token(ProxyConfig, config_path, data_dir, admin_token)
        status = _call("POST", f"{url}/request/close", admin_headers(token))
    shown, shown_phase, shown_at, held = "", "", 0.0, status
    while True:
        line = progress(status)
        now = time.monotonic()
        if line != shown and (status["phase"] != shown_phase or now - shown_at >= QUIET_S):
            click.echo(line)
            shown, shown_phase, shown_at = line, status["phase"], now
        if status["closed"] or not wait:
            break
        held = status
        time.sleep(poll_s)
        status = _call("GET", f"{url}/close")
    if status["closed"] and held.get("stake_nano") is not None:
        click.echo(
            f"the owner received the commission ({format_ton(held['balance_nano'])} TON), the stake "
            f"({format_ton(held['stake_nano'])} TON) and the contract's reserve"
        )
