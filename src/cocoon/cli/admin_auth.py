"""The admin token on the CLI side: the options naming it and the headers sending it.

The commands that call a running node's admin POSTs (`cocoon proxy close`, `cocoon worker payout`,
`cocoon client topup|withdraw|close`) take ``--admin-token`` (or ``COCOON_ADMIN_TOKEN``), else read
``admin.token`` in the node's data dir: ``--data-dir``, else the ``data_dir`` of the config ``-c``
names (`cocoon.node.admin_token`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
import msgspec

from cocoon.cli.service_runner import load_role_config
from cocoon.node.admin_token import ADMIN_TOKEN_HEADER, admin_token_path, read_admin_token

F = TypeVar("F", bound=Callable[..., object])


def admin_token_options(command: F) -> F:
    """``--data-dir`` and ``--admin-token``, passed as ``data_dir`` and ``admin_token``."""
    command = click.option(
        "--admin-token",
        envvar="COCOON_ADMIN_TOKEN",
        help="The node's admin token (default: admin.token in its data dir).",
    )(command)
    return click.option(
        "--data-dir", help="The node's data dir, whose admin.token is sent (default: -c's data_dir)."
    )(command)


def resolve_admin_token(
    cls: type[msgspec.Struct], config_path: Path | None, data_dir: str | None, token: str | None
) -> str:
    """The admin token to send: ``token``, else the one in the node's data dir; a `click.ClickException`
    saying what to pass when there is none."""
    if token:
        return token.strip()
    if not data_dir:
        data_dir = str(getattr(load_role_config(cls, config_path, {}), "data_dir", ""))
    path = admin_token_path(data_dir or "")
    if path is None:
        raise click.ClickException(
            "no admin token: pass --data-dir with the node's data dir (its admin.token is read), -c with "
            "the node's config, or --admin-token (COCOON_ADMIN_TOKEN)"
        )
    if not path.exists():
        raise click.ClickException(
            f"no admin token at {path}: the node makes it at its first start (or `cocoon init --data-dir`); "
            "check --data-dir, or pass --admin-token"
        )
    return read_admin_token(path)


def admin_headers(token: str, *, beside_api_key: bool = False) -> dict[str, str]:
    """The headers presenting ``token``: ``Authorization: Bearer``, or its own header when
    ``Authorization`` carries an API key (the client daemon's)."""
    return {ADMIN_TOKEN_HEADER: token} if beside_api_key else {"Authorization": f"Bearer {token}"}
