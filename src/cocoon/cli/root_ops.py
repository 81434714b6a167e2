"""`cocoon root` owner operations that take something back or change the network's terms:

    cocoon root revoke-image <64 hex> --root <address>         # worker image hash
    cocoon root revoke-proxy-image <64 hex> --root <address>
    cocoon root revoke-model 'name@revision:sha256' --root <address>
    cocoon root unregister-proxy 3 --root <address>            # by the seqno `show` prints (#3)
    cocoon root update-proxy 3 1.2.3.4:11001 1.2.3.4:11002 --root <address>
    cocoon root set-params --price 30 --worker-fee 27 --proxy-delay 600 --root <address>
    cocoon root change-owner <new owner address> --root <address>

Each checks the registry first (revoking what is not allowed, or naming a proxy seqno that is not
registered, is an error that says so), sends one message from the owner's wallet, waits until the
root's version moves and prints ``root version N -> N+1``, what changed, and the registry as it now is.
The commands are registered on the ``root`` group of :mod:`cocoon.cli.root`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import msgspec

from cocoon.cli.root import _hash, _owner_op, _root_option, _ton, root
from cocoon.cli.wallet import chain_url_option, key_option, user_address
from cocoon.errors import ConfigError
from cocoon.payments.params import format_ton

PARAM_FIELDS: dict[str, str] = {
    "price_per_token": "price/token (nanoTON)",
    "worker_fee_per_token": "worker fee/token (nanoTON)",
    "proxy_delay_before_close": "proxy close delay (s)",
    "client_delay_before_close": "client close delay (s)",
    "min_proxy_stake": "min proxy stake (TON)",
    "min_client_stake": "min client stake (TON)",
}
"""The params `set-params` changes, with how they are shown."""


def param_changes(before: Any, after: Any) -> list[str]:
    """``old -> new`` lines for every param that differs between two registry snapshots."""
    lines = []
    for name, title in PARAM_FIELDS.items():
        old, new = getattr(before.params, name), getattr(after.params, name)
        if old != new:
            shown = (format_ton(old), format_ton(new)) if "stake" in name else (old, new)
            lines.append(f"  {title:<28} {shown[0]} -> {shown[1]}")
    if before.params_version != after.params_version:
        lines.append(
            f"  params version               {before.params_version} -> {after.params_version} "
            "(proxies close their contracts and deploy new ones under the new params)"
        )
    return lines


def _require(present: bool, what: str) -> None:
    if not present:
        raise ConfigError(f"{what}; nothing was sent (`cocoon root show` lists the registry)")


def _registered(snap: Any, seqno: int) -> None:
    _require(seqno in snap.proxies, f"no proxy is registered under seqno {seqno}")


@root.command("revoke-image")
@click.argument("image_hash")
@key_option
@chain_url_option
@_root_option
def revoke_image(image_hash: str, key_path: Path, chain_url: str, root: str) -> None:
    """Revoke a worker image hash (64 hex digits): proxies stop admitting workers running it."""
    from cocoon.registry import revoke_worker_image

    value = _hash(image_hash)

    def plan(snap: Any) -> list[Any]:
        _require(snap.worker_image_allowed(value), f"worker image {value.hex()} is not allowed")
        return [revoke_worker_image(value)]

    _owner_op(key_path, chain_url, root, plan)


@root.command("revoke-proxy-image")
@click.argument("image_hash")
@key_option
@chain_url_option
@_root_option
def revoke_proxy_image(image_hash: str, key_path: Path, chain_url: str, root: str) -> None:
    """Revoke a proxy image hash (64 hex digits): clients and workers stop trusting proxies running it."""
    from cocoon.registry import revoke_proxy_image as op

    value = _hash(image_hash)

    def plan(snap: Any) -> list[Any]:
        _require(snap.proxy_image_allowed(value), f"proxy image {value.hex()} is not allowed")
        return [op(value)]

    _owner_op(key_path, chain_url, root, plan)


@root.command("revoke-model")
@click.argument("model")
@key_option
@chain_url_option
@_root_option
def revoke_model(model: str, key_path: Path, chain_url: str, root: str) -> None:
    """Revoke a model by its full id (the one `allow-model` took)."""
    from cocoon.registry import revoke_model as op

    def plan(snap: Any) -> list[Any]:
        _require(snap.model_allowed(model), f"model {model!r} is not allowed")
        return [op(model)]

    _owner_op(key_path, chain_url, root, plan)


@root.command("unregister-proxy")
@click.argument("seqno", type=click.IntRange(1, 2**32 - 1))
@key_option
@chain_url_option
@_root_option
def unregister_proxy(seqno: int, key_path: Path, chain_url: str, root: str) -> None:
    """Remove the proxy registered under SEQNO (`cocoon root show` prints it as #SEQNO)."""
    from cocoon.registry import unregister_proxy as op

    def plan(snap: Any) -> list[Any]:
        _registered(snap, seqno)
        click.echo(f"unregistering #{seqno} {snap.proxies[seqno]}")
        return [op(seqno)]

    _owner_op(key_path, chain_url, root, plan)


@root.command("update-proxy")
@click.argument("seqno", type=click.IntRange(1, 2**32 - 1))
@click.argument("endpoints", nargs=-1, required=True)
@key_option
@chain_url_option
@_root_option
def update_proxy(seqno: int, endpoints: tuple[str, ...], key_path: Path, chain_url: str, root: str) -> None:
    """Change where the proxy #SEQNO listens: `ip:port` for both, or `workers_ip:port clients_ip:port`."""
    from cocoon.registry import update_proxy as op
    from cocoon.ton.data import ProxyEndpoints

    if len(endpoints) > 2:
        raise click.BadParameter("give one ip:port, or the workers' and the clients' ip:port")
    parsed = ProxyEndpoints(endpoints[0], endpoints[-1])

    def plan(snap: Any) -> list[Any]:
        _registered(snap, seqno)
        click.echo(f"proxy #{seqno}: {snap.proxies[seqno]} -> {parsed}")
        return [op(seqno, parsed)]

    _owner_op(key_path, chain_url, root, plan)


@root.command("set-params")
@click.option("--price", type=click.IntRange(1), help="nanoTON per adjusted token.")
@click.option("--worker-fee", type=click.IntRange(0), help="nanoTON per token to workers (<= price).")
@click.option("--proxy-delay", type=click.IntRange(0, 2**32 - 1), help="Proxy close delay (s).")
@click.option("--client-delay", type=click.IntRange(0, 2**32 - 1), help="Client close delay (s).")
@click.option("--min-proxy-stake", help="TON a proxy must stake.")
@click.option("--min-client-stake", help="TON a client must stake.")
@key_option
@chain_url_option
@_root_option
def set_params(key_path: Path, chain_url: str, root: str, **opts: Any) -> None:
    """Change the price, worker fee, close delays and minimum stakes (those not given stay as they are).

    Bumps the params version: every proxy, worker and client contract under the old params is closed
    and new ones are deployed, so change several values in one call."""
    from cocoon.registry import change_params

    wanted = {
        "price_per_token": opts["price"],
        "worker_fee_per_token": opts["worker_fee"],
        "proxy_delay_before_close": opts["proxy_delay"],
        "client_delay_before_close": opts["client_delay"],
        "min_proxy_stake": _ton(opts["min_proxy_stake"]) if opts["min_proxy_stake"] else None,
        "min_client_stake": _ton(opts["min_client_stake"]) if opts["min_client_stake"] else None,
    }
    given = {name: value for name, value in wanted.items() if value is not None}
    if not given:
        raise click.UsageError("give at least one of the options (see --help)")

    def plan(snap: Any) -> list[Any]:
        new = msgspec.structs.replace(snap.params, **given)
        _require(new != snap.params, "every value given is already the root's")
        return [change_params(new)]

    _owner_op(key_path, chain_url, root, plan, param_changes)


@root.command("change-owner")
@click.argument("new_owner")
@key_option
@chain_url_option
@_root_option
def change_owner(new_owner: str, key_path: Path, chain_url: str, root: str) -> None:
    """Hand the root to NEW_OWNER: from then on only that wallet can run owner operations."""
    from cocoon.registry import change_owner as op

    address = user_address(new_owner, "NEW_OWNER")

    def plan(snap: Any) -> list[Any]:
        _require(snap.owner != address, f"{address.raw} already owns the root")
        return [op(address)]

    def changes(before: Any, after: Any) -> list[str]:
        return [f"  owner {before.owner.raw if before.owner else '(none)'} -> {after.owner.raw}"]

    _owner_op(key_path, chain_url, root, plan, changes)
