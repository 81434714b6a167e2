"""Entry point of the `cocoon` command.

Each command group lives in its own module and is imported lazily, so `cocoon --help` stays fast and a
group's heavy dependencies (the emulator, the model server) load only when that group runs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from cocoon import __version__
from cocoon.errors import CocoonError

# name -> (module, attribute, one-line help). Modules are imported only when the command is used.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("cocoon.cli.up", "up", "Start a whole local network and answer a real request."),
    "engine": ("cocoon.cli.engine", "engine", "Run an inference engine (built-in model or fake)."),
    "plan": ("cocoon.cli.plan", "plan", "Estimate what app traffic costs or what a GPU earns."),
    "attest": ("cocoon.cli.attest", "attest", "Inspect and verify TDX quotes and RA-TLS certificates."),
    "receipt": ("cocoon.cli.receipt", "receipt", "Verify a worker's signed answer receipt offline."),
    "chain": ("cocoon.cli.chain", "chain", "Run or query the local TON chain."),
    "wallet": ("cocoon.cli.wallet", "wallet", "Create a node wallet key, show its address and balance."),
    "root": ("cocoon.cli.root", "root", "Deploy the root contract (registry) and run owner operations."),
    "init": ("cocoon.cli.init", "init", "Write a commented example configuration for a node."),
    "client": ("cocoon.cli.client", "client", "Run a client daemon: the OpenAI API, paid in TON."),
    "proxy": ("cocoon.cli.proxy", "proxy", "Run a proxy: route, meter and settle requests."),
    "worker": ("cocoon.cli.worker", "worker", "Run a worker: serve a model and earn TON."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = getattr(module, entry[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="cocoon")
def cli() -> None:
    """COCOON in Python: confidential AI inference paid in TON."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; our errors become one clear line on stderr and exit code 1."""
    try:
        return cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except CocoonError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
