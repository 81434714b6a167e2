"""`cocoon plan`: onboarding answers for app developers (`plan app`) and GPU owners (`plan gpu`).

Output is a rich table, or JSON with ``--json`` (money as int nanoTON). Bad input of any kind — an
unknown model or GPU, a non-positive volume, a share outside 0..1 — prints one ``Error:`` line (with the
closest catalog names when a name is unknown) and exits with code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import msgspec
from rich.console import Console
from rich.table import Table

from cocoon.errors import PlannerError
from cocoon.payments import DEFAULT_PARAMS
from cocoon.planner import DEFAULT_ASSUMPTIONS, AppInputs, GpuInputs, load_catalog, plan_app, plan_gpu
from cocoon.planner.report import Report, app_report, gpu_report, gpus_report, models_report

_F = TypeVar("_F", bound=Callable[..., Any])


class PlanInputError(click.ClickException):
    """A bad planner input: shown as one ``Error:`` line, exit code 2 (a usage error)."""

    exit_code = 2


class _OneLineCommand(click.Command):
    """Turns click's multi-line usage errors (bad number, missing option) into one line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise PlanInputError(exc.format_message()) from exc


class _OneLineGroup(click.Group):
    command_class = _OneLineCommand

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise PlanInputError(exc.format_message()) from exc


def _default(struct: type[msgspec.Struct], name: str) -> Any:
    """The default of an input field, so the CLI and the planner cannot disagree."""
    return next(f.default for f in msgspec.structs.fields(struct) if f.name == name)


def _emit_json(plan: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(plan), indent=2).decode())


@click.group(cls=_OneLineGroup)
def plan() -> None:
    """Estimate what app traffic costs or what a GPU earns (catalog: `cocoon plan models` / `gpus`)."""


def _defaults_from(struct: type[msgspec.Struct], rows: list[tuple[str, str]]) -> Callable[[_F], _F]:
    """Options whose defaults (and so types) come from the input struct: one source of truth."""

    def apply(command: _F) -> _F:
        for flag, help_text in reversed(rows):
            name = flag.removeprefix("--").replace("-", "_")
            option = click.option(
                flag, name, default=_default(struct, name), show_default=True, help=help_text
            )
            command = option(command)
        return command

    return apply


@plan.command()
@click.option("--model", required=True, help="Model name or alias, e.g. Qwen3-8B, deepseek-r1, llama3.1:8b.")
@click.option("--daily-queries", required=True, type=int, help="Expected queries per day.")
@click.option("--avg-input", required=True, type=int, help="Average input (prompt) tokens per query.")
@click.option("--avg-output", required=True, type=int, help="Average output tokens per query.")
@_defaults_from(
    AppInputs,
    [
        ("--cached-share", "Share of input tokens served from the prompt cache (0..1)."),
        ("--reasoning-share", "Share of output tokens that are reasoning (0..1)."),
        ("--peak-factor", "Peak rate / average rate (>= 1)."),
        ("--coefficient", "Worker price coefficient you expect to pay (1000 = 1.0x)."),
        ("--concurrency", "Sequences batched per replica when sizing GPUs."),
    ],
)
@click.option("--price-per-token", type=int, help="nanoTON per adjusted token [default: network price, 20].")
@click.option("--quant", help="Weight format, e.g. BF16, FP8, INT4 [default: the model's native format].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (money in nanoTON) instead of tables.")
def app(as_json: bool, **options: Any) -> None:
    """What an app's traffic costs in TON, how much to stake, and which GPUs can carry it."""
    try:
        result = plan_app(AppInputs(**options), load_catalog(), DEFAULT_PARAMS, DEFAULT_ASSUMPTIONS)
    except PlannerError as exc:
        raise PlanInputError(str(exc)) from exc
    if as_json:
        _emit_json(result)
    else:
        _draw(app_report(result))


@plan.command()
@click.option("--gpu", required=True, help="GPU model, e.g. H100, H200, B200, A100, L40S, RTX-4090.")
@click.option("--vram", "vram_gb", type=float, help="VRAM per GPU in GB [default: the catalog's figure].")
@_defaults_from(
    GpuInputs,
    [
        ("--count", "GPUs in the box (tensor parallel)."),
        ("--uptime", "Share of the day the worker is online, in (0, 1]."),
        ("--utilization", "Share of online time serving paid requests, in (0, 1]."),
        ("--context", "Tokens per sequence the KV cache must hold."),
        ("--concurrency", "Max concurrent sequences (the worker's declared setting)."),
        ("--avg-input", "Input tokens per request in the assumed mix."),
        ("--avg-output", "Output tokens per request in the assumed mix."),
        ("--coefficient", "Your price coefficient (1000 = 1.0x)."),
    ],
)
@click.option("--all", "show_all", is_flag=True, help="Show every model and quantization, fitting or not.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (money in nanoTON) instead of tables.")
def gpu(as_json: bool, show_all: bool, **options: Any) -> None:
    """Which catalog models a GPU box can serve, how fast, and what it may earn in TON."""
    try:
        result = plan_gpu(GpuInputs(**options), load_catalog(), DEFAULT_PARAMS, DEFAULT_ASSUMPTIONS)
    except PlannerError as exc:
        raise PlanInputError(str(exc)) from exc
    if as_json:
        _emit_json(result)
    else:
        _draw(gpu_report(result, show_all))


@plan.command()
@click.option("--sources", is_flag=True, help="Print where every figure comes from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(sources: bool, as_json: bool) -> None:
    """List the model catalog."""
    catalog = load_catalog()
    if as_json:
        _emit_json({"models": catalog.models, "quantizations": catalog.quantizations})
    else:
        _draw(models_report(catalog, sources))


@plan.command()
@click.option("--sources", is_flag=True, help="Print where every figure comes from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def gpus(sources: bool, as_json: bool) -> None:
    """List the GPU catalog."""
    catalog = load_catalog()
    if as_json:
        _emit_json({"gpus": catalog.gpus})
    else:
        _draw(gpus_report(catalog, sources))


def _draw(report: Report) -> None:
    """Print a report with rich; pipes and test runners get a fixed width so tables do not wrap."""
    console = Console(width=None if sys.stdout.isatty() else 150, highlight=False)
    for line in report.heading:
        console.print(line, markup=False)
    for view in report.tables:
        table = Table(title=view.title, show_header=view.show_header)
        for name in view.columns:
            table.add_column(name, justify="left" if name in view.left else "right")
        for n, row in enumerate(view.rows):
            table.add_row(*row, style="dim" if n in view.dim else None)
        console.print(table)
    for line in report.notes:
        console.print(line if line.endswith(":") else f"  {line}", markup=False)
