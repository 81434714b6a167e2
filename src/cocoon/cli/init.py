"""`cocoon init <role>`: write a commented example configuration for a node."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from cocoon.config import ENV_PREFIX, toml_value
from cocoon.node.admin_token import load_or_create_admin_token
from cocoon.roles import ROLE_CONFIGS, field_help


def render_example(role: str, *, testnet: bool = False, data_dir: str = "") -> str:
    """The default configuration of `role` as TOML, each key with its meaning and env variable
    (``testnet = true`` with ``testnet``, ``data_dir`` set when given)."""
    cls = ROLE_CONFIGS[role]
    defaults = msgspec.to_builtins(cls(testnet=testnet, data_dir=data_dir))
    lines = [
        f"# cocoon {role} configuration: `cocoon {role} run -c <this file>`.",
        f"# Every key can also be set with the environment variable {ENV_PREFIX}<KEY> or a flag;",
        "# unknown keys are an error. Values below are the defaults.",
        "",
    ]
    for field in msgspec.structs.fields(cls):
        name = field.encode_name
        help_text = field_help(name)
        if help_text:
            lines.append(f"# {help_text}")
        value = defaults.get(name)
        lines.append(f"{name} = {toml_value(value)}" if value is not None else f"# {name} =")
        lines.append("")
    return "\n".join(lines)


@click.command()
@click.argument("role", type=click.Choice(sorted(ROLE_CONFIGS)))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--testnet", is_flag=True, help="For a TON testnet: writes testnet = true.")
@click.option(
    "--data-dir",
    default="",
    help="The node's data dir: written as data_dir, and its admin token (admin.token, mode 0600) made there.",
)
def init(role: str, output: Path | None, force: bool, testnet: bool, data_dir: str) -> None:
    """Write a commented example configuration for ROLE (client, proxy or worker)."""
    text = render_example(role, testnet=testnet, data_dir=data_dir)
    if data_dir:
        made = load_or_create_admin_token(data_dir)
        assert made is not None  # a data dir was given
        # stderr: stdout may be the config itself
        click.echo(f"the node's admin token is in {made[1]} (CLI commands read it with --data-dir)", err=True)
    if output is None:
        sys.stdout.write(text)
        return
    if output.exists() and not force:
        raise click.UsageError(f"{output} exists; pass --force to overwrite it")
    output.write_text(text)
    click.echo(f"wrote {output}; start the node with `cocoon {role} run -c {output}`")
