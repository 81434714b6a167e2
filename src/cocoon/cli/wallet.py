"""`cocoon wallet`: create a node wallet key file, show its address, read its balance.

    cocoon wallet new --key ~/.cocoon/worker.key --owner <your main wallet address>
    cocoon wallet balance --key ~/.cocoon/worker.key --chain-url http://127.0.0.1:13000
    cocoon wallet new --testnet ...   (addresses in the testnet form; mainnet-flagged ones refused)

The wallet contract is deployed by the node's first message; until then the address only needs TON
(send it non-bounceable: the address shown is in that form).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cocoon.errors import ChainDataError, ConfigError
from cocoon.payments.params import format_ton
from cocoon.ton.address import Address, parse_on
from cocoon.ton.address import show as show_address

T = TypeVar("T")
DEFAULT_CHAIN_URL = "http://127.0.0.1:13000"
DEFAULT_KEY = Path("~/.cocoon/wallet.key")


def key_option(f: Callable[..., object]) -> Callable[..., object]:
    """``--key PATH`` (env COCOON_WALLET_KEY), shared by the wallet and root commands."""
    return click.option(
        "--key",
        "key_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_KEY,
        show_default=True,
        envvar="COCOON_WALLET_KEY",
        help="Wallet key file (created by `cocoon wallet new`).",
    )(f)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"cocoon.{param.name}"] = value
    return value


def testnet_option(f: Callable[..., object]) -> Callable[..., object]:
    """``--testnet`` (env COCOON_TESTNET): addresses print in the testnet form and an address typed
    with the mainnet flag is refused (without it, one with the testnet flag); read with :func:`testnet`."""
    return click.option(
        "--testnet",
        is_flag=True,
        envvar="COCOON_TESTNET",
        expose_value=False,
        callback=_remember,
        help="The chain is a TON testnet (addresses with the testnet flag).",
    )(f)


def testnet() -> bool:
    """Whether the running command was given ``--testnet``."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx.meta.get("cocoon.testnet", False)) if ctx is not None else False


def shown(address: Address, *, bounceable: bool = True) -> str:
    """``address`` in the user-friendly form of the command's network (``--testnet``)."""
    return show_address(address, testnet=testnet(), bounceable=bounceable)


def user_address(text: str, what: str) -> Address:
    """An address given on the command line, for the command's network (BadParameter if not one)."""
    try:
        return parse_on(text, testnet=testnet(), what=what)
    except ChainDataError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from exc


def chain_url_option(f: Callable[..., object]) -> Callable[..., object]:
    """``--chain-url URL`` (env COCOON_CHAIN_URL): a toncenter-style API, by default the local chain;
    with ``--chain-api-key`` (env COCOON_CHAIN_API_KEY) and ``--testnet``."""
    f = testnet_option(f)
    f = click.option(
        "--chain-api-key",
        envvar="COCOON_CHAIN_API_KEY",
        default="",
        expose_value=False,
        callback=_remember,
        help="Toncenter API key (raises its limit from ~1 to ~10 requests/s).",
    )(f)
    return click.option(
        "--chain-url",
        default=DEFAULT_CHAIN_URL,
        show_default=True,
        envvar="COCOON_CHAIN_URL",
        help="Toncenter-style TON API (`cocoon chain serve` locally, or a toncenter v2 endpoint).",
    )(f)


def with_chain(url: str, action: Callable[..., Awaitable[T]]) -> T:
    """Run ``action(chain)`` against the TON API at ``url``, keeping to a public endpoint's rate."""
    from cocoon.chainsvc.toncenter import ToncenterChain
    from cocoon.ton.backend import choose_chain

    ctx = click.get_current_context(silent=True)
    api_key = str(ctx.meta.get("cocoon.chain_api_key", "")) if ctx is not None else ""
    try:
        choice = choose_chain("auto", url, api_key, 0.0, "")
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--chain-url") from exc
    assert choice is not None  # a URL was given

    async def run() -> T:
        async with ToncenterChain(url, api_key=api_key or None, rate_per_s=choice.rate_per_s) as chain:
            return await action(chain)

    return asyncio.run(run())


@click.group()
def wallet() -> None:
    """Node wallets: the TON account a node pays fees and deposits from."""


@wallet.command()
@key_option
@click.option("--owner", help="Address that may withdraw everything or block the wallet (recommended).")
@click.option("--subwallet", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@testnet_option
def new(key_path: Path, owner: str | None, subwallet: int) -> None:
    """Create a new wallet key file (mode 0600) and print the address to fund."""
    from cocoon.wallet import WalletKey, write_key_file

    key = WalletKey.generate(subwallet=subwallet, owner=user_address(owner, "--owner") if owner else None)
    path = key_path.expanduser()
    write_key_file(path, key)
    click.echo(f"wrote {path} (mode 0600); keep it secret, it controls the wallet's TON")
    click.echo(f"address: {shown(key.address, bounceable=False)}")
    click.echo(f"raw:     {key.address.raw}")
    click.echo("send it at least 2.1 TON (non-bounceable) before starting a node with it")


@wallet.command()
@key_option
@testnet_option
def show(key_path: Path) -> None:
    """Print the wallet's address and public key (no chain needed)."""
    from cocoon.wallet import load_key_file

    key = load_key_file(key_path.expanduser())
    click.echo(f"address:    {shown(key.address, bounceable=False)}")
    click.echo(f"raw:        {key.address.raw}")
    click.echo(f"public key: {key.public_key:064x}")
    click.echo(f"subwallet:  {key.subwallet}")
    click.echo(f"owner:      {key.owner.raw if key.owner else '(none)'}")


@wallet.command()
@key_option
@chain_url_option
def balance(key_path: Path, chain_url: str) -> None:
    """Print the wallet's balance, status and seqno."""
    from cocoon.wallet import NodeWallet, load_key_file

    key = load_key_file(key_path.expanduser())

    async def read(chain: object) -> tuple[int, str, int | None]:
        w = NodeWallet(chain, key)  # type: ignore[arg-type]
        state = await w.state()
        return state.balance, state.status.value, await w.seqno()

    nano, status, seqno = with_chain(chain_url, read)
    click.echo(
        f"{shown(key.address, bounceable=False)} {status} balance={format_ton(nano)} TON seqno={seqno}"
    )
