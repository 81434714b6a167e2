"""`cocoon root` owner operations that replace the network's contracts or wipe its registry:

    cocoon root upgrade-contracts --root <address>          # the codes this release ships
    cocoon root upgrade-contracts --proxy-code proxy.boc --worker-code worker.boc --client-code client.boc ...
    cocoon root upgrade --code root.boc --yes --root <address>
    cocoon root reset --yes --root <address>

`upgrade-contracts` changes the codes the root hands out and bumps the params version, so every proxy,
worker and client contract is closed and redeployed with the new code (as after `set-params`).
`upgrade` replaces the root's own code and `reset` clears its four registries (proxy and worker
images, registered proxies, models: no worker or proxy is admitted until they are allowed again);
both ask for ``--yes``. Like the other owner operations they check the registry first and print
``root version N -> N+1`` and the registry as it now is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cocoon.cli.root import _owner_op, _root_option, root
from cocoon.cli.root_ops import _require, param_changes
from cocoon.cli.wallet import chain_url_option, key_option
from cocoon.ton.cells import Cell

_YES = click.option("--yes", is_flag=True, help="Confirm: this changes the whole network at once.")


def _code(path: Path | None, shipped: str, option: str) -> Cell:
    """The code cell in the BoC file at ``path``, or the ``shipped`` contract of this release."""
    from cocoon.ton.artifacts import contract_code

    if path is None:
        cell: Cell = contract_code(shipped)
        return cell
    try:
        return Cell.one_from_boc(path.expanduser().read_bytes())
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=option) from exc
    except Exception as exc:  # pytoniq-core raises bare exceptions for a malformed BoC
        why = f"{path} is not a BoC with one root cell ({exc})"
        raise click.BadParameter(why, param_hint=option) from exc


def _confirmed(yes: bool, what: str) -> None:
    if not yes:
        raise click.UsageError(f"{what}; add --yes to go ahead")


def _code_option(name: str) -> Callable[[Callable[..., object]], Callable[..., object]]:
    return click.option(
        f"--{name}-code",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"BoC of the new {name} contract code (default: the one this release ships).",
    )


@root.command("upgrade-contracts")
@_code_option("proxy")
@_code_option("worker")
@_code_option("client")
@key_option
@chain_url_option
@_root_option
def upgrade_contracts(
    proxy_code: Path | None,
    worker_code: Path | None,
    client_code: Path | None,
    key_path: Path,
    chain_url: str,
    root: str,
) -> None:
    """Hand out new proxy, worker and client contract codes (bumps the params version: every node closes
    its contracts and deploys new ones with the new code)."""
    from cocoon.registry import upgrade_contracts as op

    codes = (
        _code(proxy_code, "proxy", "--proxy-code"),
        _code(worker_code, "worker", "--worker-code"),
        _code(client_code, "client", "--client-code"),
    )

    def plan(snap: Any) -> list[Any]:
        p = snap.chain_params
        now = (p.proxy_code, p.worker_code, p.client_code)
        _require(
            any(old is None or old.hash != new.hash for old, new in zip(now, codes, strict=True)),
            "the root already hands out these three codes",
        )
        for name, cell in zip(("proxy", "worker", "client"), codes, strict=True):
            click.echo(f"{name} code -> {cell.hash.hex()}")
        return [op(*codes)]

    _owner_op(key_path, chain_url, root, plan, param_changes)


@root.command("upgrade")
@click.option(
    "--code",
    "code_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="BoC of the new root code (default: the one this release ships).",
)
@_YES
@key_option
@chain_url_option
@_root_option
def upgrade(code_path: Path | None, yes: bool, key_path: Path, chain_url: str, root: str) -> None:
    """Replace the root contract's own code; its data (registry, params, owner) stays."""
    from cocoon.registry import upgrade_root

    code = _code(code_path, "root", "--code")
    _confirmed(yes, "this replaces the code of the root every node reads")
    click.echo(f"root code -> {code.hash.hex()}")
    _owner_op(key_path, chain_url, root, lambda _: [upgrade_root(code)])


@root.command("reset")
@_YES
@key_option
@chain_url_option
@_root_option
def reset(yes: bool, key_path: Path, chain_url: str, root: str) -> None:
    """Clear the registry: proxy and worker images, registered proxies and models (params stay)."""
    from cocoon.registry import reset_registry

    _confirmed(yes, "this revokes every image and model and unregisters every proxy")

    def plan(snap: Any) -> list[Any]:
        empty = not (snap.proxies or snap.worker_hashes or snap.proxy_hashes or snap.model_hashes)
        _require(not empty, "the registry is already empty")
        return [reset_registry()]

    _owner_op(key_path, chain_url, root, plan)
