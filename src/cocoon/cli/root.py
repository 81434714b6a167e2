"""`cocoon root`: deploy the root contract (registry) and run its owner operations from a node wallet.

    cocoon root deploy --key owner.key                      # prints the root address
    cocoon root allow-image <64 hex> --root <address>       # worker image hash
    cocoon root allow-proxy-image <64 hex> --root <address>
    cocoon root allow-model 'name@revision:sha256' --root <address>
    cocoon root register-proxy 1.2.3.4:11001 1.2.3.4:11002 --root <address>
    cocoon root set-fees 20 19 --root <address>
    cocoon root show --root <address>

Revoking, unregistering and updating proxies, `set-params` and `change-owner` are in
:mod:`cocoon.cli.root_ops`.

Every operation waits until the root's version moves and prints the registry as it now is. ``show``
also reads a root of the public COCOON network (the reference's layout, params up to v5).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from cocoon.cli.wallet import chain_url_option, key_option, shown, user_address, with_chain
from cocoon.payments.params import format_ton, parse_ton
from cocoon.ton.address import Address

if TYPE_CHECKING:
    from cocoon.ton.reference import RefRootState


def _root_option(f: Callable[..., object]) -> Callable[..., object]:
    return click.option(
        "--root",
        "root",
        required=True,
        envvar="COCOON_ROOT_ADDRESS",
        help="Root contract address (printed by `cocoon root deploy`).",
    )(f)


def _hash(text: str) -> bytes:
    raw = text.lower().removeprefix("0x")
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise click.BadParameter(f"{text!r} is not a 32-byte hash in hex (64 digits)", param_hint="HASH")
    return value


def _ton(text: str) -> int:
    try:
        return parse_ton(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def describe(snap: Any) -> list[str]:
    """Lines describing a :class:`~cocoon.registry.RegistrySnapshot` for people."""
    p = snap.params
    lines = [
        f"root            {shown(snap.root)} ({snap.root.raw})",
        f"owner           {snap.owner.raw if snap.owner else '(none)'}",
        f"version         {snap.version} (params version {snap.params_version})",
        *_economics(
            p.price_per_token,
            p.worker_fee_per_token,
            (p.prompt_multiplier, p.cached_multiplier, p.completion_multiplier, p.reasoning_multiplier),
            p,
        ),
        *_hashes(
            [f"{h:064x}" for h in sorted(snap.proxy_hashes)],
            [f"{h:064x}" for h in sorted(snap.worker_hashes)],
            [f"{h:064x}" for h in sorted(snap.model_hashes)],
        ),
        f"proxies         {len(snap.proxies)}",
    ]
    lines.extend(f"  #{seqno} {endpoints}" for seqno, endpoints in snap.proxies.items())
    return lines


def describe_public(root: Address, state: RefRootState) -> list[str]:
    """Lines describing a public COCOON root (the reference's layout) for people."""
    p = state.params
    lines = [
        f"root            {shown(root)} ({root.raw})",
        f"layout          public COCOON network (reference), params struct version {p.struct_version}",
        f"owner           {state.owner.raw if state.owner else '(none)'}",
        f"version         {state.version} (params version {p.params_version})",
        f"network         {'test' if p.is_test else 'production'} (unique id {p.unique_id})",
        *_economics(
            p.price_per_token,
            p.worker_fee_per_token,
            (p.prompt_mult, p.cached_mult, p.completion_mult, p.reasoning_mult),
            p,
        ),
        *_hashes(
            [h.hex() for h in sorted(state.proxy_hashes)],
            [h.hex() for h in sorted(state.worker_hashes)],
            [h.hex() for h in sorted(state.model_hashes)],
        ),
        f"proxies         {len(state.proxies)}",
    ]
    lines.extend(f"  #{x.seqno} {x.endpoints}" for x in state.proxies)
    lines.extend(f"  #{seqno} skipped: {why}" for seqno, why in state.skipped_proxies)
    if state.key_manager is not None:
        km = state.key_manager
        lines.append(f"key manager     {km.address or '(none)'}; {len(km.public_keys)} keys")
    if state.verified_keys is not None:
        v = state.verified_keys
        lines.append(
            f"verified keys   proxy {len(v.proxy_keys)}, worker {len(v.worker_keys)}, "
            f"key manager {len(v.key_manager_keys)}"
        )
    return lines


class _Delays(Protocol):
    @property
    def proxy_delay_before_close(self) -> int: ...
    @property
    def client_delay_before_close(self) -> int: ...
    @property
    def min_proxy_stake(self) -> int: ...
    @property
    def min_client_stake(self) -> int: ...


def _economics(price: int, fee: int, multipliers: tuple[int, int, int, int], p: _Delays) -> list[str]:
    """Prices, multipliers, close delays and stakes: what both root layouts state alike."""
    prompt, cached, completion, reasoning = multipliers
    return [
        f"price/token     {price} nanoTON; worker fee {fee} nanoTON",
        f"multipliers     prompt {prompt} cached {cached} "
        f"completion {completion} reasoning {reasoning} (10000 = 1.0x)",
        f"close delays    proxy {p.proxy_delay_before_close} s, client {p.client_delay_before_close} s",
        f"min stakes      proxy {format_ton(p.min_proxy_stake)} TON, "
        f"client {format_ton(p.min_client_stake)} TON",
    ]


def _hashes(proxy_images: list[str], worker_images: list[str], models: list[str]) -> list[str]:
    """The allowed image and model hashes, each list under its count."""
    lines = []
    for title, hashes in (
        ("proxy images", proxy_images),
        ("worker images", worker_images),
        ("models", models),
    ):
        lines.append(f"{title:<15} {len(hashes)}")
        lines.extend(f"  {h}" for h in hashes)
    return lines


def _owner_op(
    key_path: Path,
    chain_url: str,
    root: str,
    bodies: Callable[[Any], list[Any]],
    changes: Callable[[Any, Any], list[str]] | None = None,
) -> None:
    """Send owner operations from the wallet in ``key_path`` and print the registry afterwards.

    ``bodies(snapshot)`` builds the operations from the registry as it is before (it may raise a
    CocoonError saying why there is nothing to do); ``changes(before, after)`` adds ``old -> new`` lines.
    """
    from cocoon.registry import RootOwner
    from cocoon.wallet import NodeWallet, load_key_file

    key = load_key_file(key_path.expanduser())

    async def run(chain: Any) -> tuple[Any, Any]:
        owner = RootOwner(chain, NodeWallet(chain, key), user_address(root, "--root"))
        before = await owner.snapshot()
        return before, await owner.apply(bodies(before))

    before, after = with_chain(chain_url, run)
    click.echo(f"done: root version {before.version} -> {after.version}")
    for line in changes(before, after) if changes else []:
        click.echo(line)
    for line in describe(after):
        click.echo(line)


@click.group()
def root() -> None:
    """The root contract: the network's registry of prices, allowed images and models, and proxies."""


@root.command()
@key_option
@chain_url_option
@click.option("--price", type=int, default=20, show_default=True, help="nanoTON per adjusted token.")
@click.option("--worker-fee", type=int, default=19, show_default=True, help="nanoTON per token to workers.")
@click.option("--proxy-delay", type=int, default=600, show_default=True, help="Proxy close delay (s).")
@click.option("--client-delay", type=int, default=300, show_default=True, help="Client close delay (s).")
@click.option("--min-proxy-stake", default="1", show_default=True, help="TON a proxy must stake.")
@click.option("--min-client-stake", default="1", show_default=True, help="TON a client must stake.")
@click.option("--unique-id", type=int, default=13, show_default=True, help="Distinguishes networks.")
def deploy(key_path: Path, chain_url: str, **opts: Any) -> None:
    """Deploy a root owned by this wallet, with our compiled contract codes (no-op if it exists)."""
    from cocoon.registry import RootOwner, local_params
    from cocoon.wallet import NodeWallet, load_key_file

    key = load_key_file(key_path.expanduser())
    params = local_params(
        price_per_token=opts["price"],
        worker_fee_per_token=opts["worker_fee"],
        proxy_delay_before_close=opts["proxy_delay"],
        client_delay_before_close=opts["client_delay"],
        min_proxy_stake=_ton(opts["min_proxy_stake"]),
        min_client_stake=_ton(opts["min_client_stake"]),
        unique_id=opts["unique_id"],
    )

    async def run(chain: Any) -> Any:
        wallet = NodeWallet(chain, key)
        await wallet.ensure_funded()
        owner = await RootOwner.deploy(chain, wallet, params)
        return await owner.snapshot()

    for line in describe(with_chain(chain_url, run)):
        click.echo(line)


@root.command()
@chain_url_option
@_root_option
def show(chain_url: str, root: str) -> None:
    """Print the registry: params, allowed hashes, registered proxies (ours or a public COCOON root)."""
    from cocoon.node.public_root import read_root
    from cocoon.registry import RegistrySnapshot

    address = user_address(root, "--root")
    snap = with_chain(chain_url, lambda chain: read_root(chain, address))
    lines = describe(snap) if isinstance(snap, RegistrySnapshot) else describe_public(address, snap)
    for line in lines:
        click.echo(line)


@root.command("allow-image")
@click.argument("image_hash")
@key_option
@chain_url_option
@_root_option
def allow_image(image_hash: str, key_path: Path, chain_url: str, root: str) -> None:
    """Allow a worker image hash (64 hex digits)."""
    from cocoon.registry import allow_worker_image

    _owner_op(key_path, chain_url, root, lambda _: [allow_worker_image(_hash(image_hash))])


@root.command("allow-proxy-image")
@click.argument("image_hash")
@key_option
@chain_url_option
@_root_option
def allow_proxy_image(image_hash: str, key_path: Path, chain_url: str, root: str) -> None:
    """Allow a proxy image hash (64 hex digits)."""
    from cocoon.registry import allow_proxy_image as op

    _owner_op(key_path, chain_url, root, lambda _: [op(_hash(image_hash))])


@root.command("allow-model")
@click.argument("model")
@key_option
@chain_url_option
@_root_option
def allow_model(model: str, key_path: Path, chain_url: str, root: str) -> None:
    """Allow a model by its full id (the root stores its sha256)."""
    from cocoon.registry import allow_model as op

    _owner_op(key_path, chain_url, root, lambda _: [op(model)])


@root.command("register-proxy")
@click.argument("endpoints", nargs=-1, required=True)
@key_option
@chain_url_option
@_root_option
def register_proxy(endpoints: tuple[str, ...], key_path: Path, chain_url: str, root: str) -> None:
    """Register a proxy: `ip:port` for both, or `workers_ip:port clients_ip:port`."""
    from cocoon.registry import register_proxy as op
    from cocoon.ton.data import ProxyEndpoints

    if len(endpoints) > 2:
        raise click.BadParameter("give one ip:port, or the workers' and the clients' ip:port")
    parsed = ProxyEndpoints(endpoints[0], endpoints[-1])
    _owner_op(key_path, chain_url, root, lambda _: [op(parsed)])


@root.command("set-fees")
@click.argument("price", type=int)
@click.argument("worker_fee", type=int)
@key_option
@chain_url_option
@_root_option
def set_fees(price: int, worker_fee: int, key_path: Path, chain_url: str, root: str) -> None:
    """Set the price per token and the worker fee per token (nanoTON); bumps the params version."""
    from cocoon.registry import set_fees as op

    if not 0 <= worker_fee <= price:
        raise click.BadParameter(f"the worker fee ({worker_fee}) must be within 0..price ({price})")
    from cocoon.cli.root_ops import param_changes

    _owner_op(key_path, chain_url, root, lambda _: [op(price, worker_fee)], param_changes)


# The commands that revoke, unregister, update and change params or owner live in their own module.
# The commands that replace the contracts' codes or reset the registry, likewise.
from cocoon.cli import root_code as _root_code  # noqa: E402, F401
from cocoon.cli import root_ops as _root_ops  # noqa: E402, F401
