"""`cocoon chain`: run the local TON chain (`serve`) or query/poke one over its HTTP API.

`serve` prints one line on stdout when it accepts requests:

    chain ready at http://127.0.0.1:13000

(`cocoon.chainsvc.service.READY_PREFIX`). State lives in `<data-dir>/chain.db` and survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from cocoon.payments.params import format_ton, parse_ton
from cocoon.ton.address import Address

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:13000"


@click.group()
def chain() -> None:
    """Run or query the local TON chain."""


@chain.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=13000, show_default=True, help="Port to listen on (0: any free port).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.home() / ".cocoon" / "chain-0",
    show_default=True,
    help="Where the chain's accounts and transactions are stored.",
)
@click.option(
    "--clock",
    type=click.Choice(["wall", "manual"]),
    default="wall",
    show_default=True,
    help="wall: chain time follows the wall clock; manual: only POST /api/v2/local/advanceTime moves it.",
)
@click.option("--start-time", type=int, default=None, help="Unix time of a new chain (default: now).")
def serve(host: str, port: int, data_dir: Path, clock: str, start_time: int | None) -> None:
    """Serve the local chain over a toncenter-style HTTP API.

    Third-party TON tools: @ton/ton's TonClient at <url>/api/v2/jsonRPC, TonClient4 at <url>/v4.
    """
    from cocoon.chainsvc.service import READY_PREFIX, run_chain_service

    def ready(url: str) -> None:
        click.echo(f"{READY_PREFIX}{url}")
        sys.stdout.flush()

    service = run_chain_service(
        data_dir, host=host, port=port, wall_clock=clock == "wall", start_time=start_time, on_ready=ready
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(service)


def _with_chain(url: str, action: Callable[..., Awaitable[T]]) -> T:
    from cocoon.chainsvc.toncenter import ToncenterChain

    async def run() -> T:
        async with ToncenterChain(url) as api:
            return await action(api)

    return asyncio.run(run())


@chain.command()
@click.argument("address")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Chain API base URL.")
def account(address: str, url: str) -> None:
    """Show an account's status and balance."""
    state = _with_chain(url, lambda api: api.get_account(Address.parse(address)))
    balance = format_ton(state.balance)
    click.echo(f"{state.address.raw} {state.status.value} balance={balance} TON last_lt={state.last_lt}")


@chain.command()
@click.argument("address")
@click.argument("ton")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Chain API base URL.")
def faucet(address: str, ton: str, url: str) -> None:
    """Give ADDRESS some TON (e.g. 2.5) from the local faucet."""
    try:
        nano = parse_ton(ton)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="TON") from exc
    _with_chain(url, lambda api: api.fund(Address.parse(address), nano))
    click.echo(f"sent {nano} nanoTON to {Address.parse(address).raw}")


@chain.command()
@click.argument("seconds", type=int)
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Chain API base URL.")
def advance(seconds: int, url: str) -> None:
    """Move the local chain's clock forward by SECONDS."""
    now = _with_chain(url, lambda api: api.advance_time(seconds))
    click.echo(f"chain time is now {now}")
