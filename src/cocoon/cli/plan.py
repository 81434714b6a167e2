"""`cocoon plan`: onboarding answers for app developers (`plan app`) and GPU owners (`plan gpu`).

Output is a rich table, or JSON with ``--json`` (money as int nanoTON). Bad input of any kind — an
unknown model or GPU, a non-positive volume, a share outside 0..1 — prints one ``Error:`` line (with the
closest catalog names when a name is unknown) and exits with code 2.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from cocoon.errors import PlannerError
from cocoon.payments import DEFAULT_PARAMS, format_ton
from cocoon.planner import (
    DEFAULT_ASSUMPTIONS,
    AppInputs,
    AppPlan,
    GpuInputs,
    GpuPlan,
    ModelOption,
    load_catalog,
    plan_app,
    plan_gpu,
)
from cocoon.planner.catalog import GB


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


def _console() -> Console:
    # Pipes and test runners get a fixed width so tables do not wrap into unreadable columns.
    return Console(width=None if sys.stdout.isatty() else 150, highlight=False)


def _emit_json(plan: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(plan), indent=2).decode())


def _ton(nano: int) -> str:
    return f"{format_ton(nano)} TON"


@click.group(cls=_OneLineGroup)
def plan() -> None:
    """Estimate what app traffic costs or what a GPU earns (catalog: `cocoon plan models` / `gpus`)."""


@plan.command()
@click.option("--model", required=True, help="Model name or alias, e.g. Qwen3-8B, deepseek-r1, llama3.1:8b.")
@click.option("--daily-queries", required=True, type=int, help="Expected queries per day.")
@click.option("--avg-input", required=True, type=int, help="Average input (prompt) tokens per query.")
@click.option("--avg-output", required=True, type=int, help="Average output tokens per query.")
@click.option("--cached-share", default=0.0, show_default=True, help="Share of input tokens cached (0..1).")
@click.option("--reasoning-share", default=0.0, show_default=True, help="Share of output that is reasoning.")
@click.option("--peak-factor", default=1.0, show_default=True, help="Peak rate / average rate (>= 1).")
@click.option("--price-per-token", type=int, help="nanoTON per adjusted token [default: network price, 20].")
@click.option(
    "--coefficient", default=1000, show_default=True, help="Worker price coefficient (1000 = 1.0x)."
)
@click.option("--quant", help="Weight format, e.g. BF16, FP8, INT4 [default: the model's native format].")
@click.option("--concurrency", default=32, show_default=True, help="Sequences batched per replica.")
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
        _render_app(result, _console())


@plan.command()
@click.option("--gpu", required=True, help="GPU model, e.g. H100, H200, B200, A100, L40S, RTX-4090.")
@click.option("--count", default=1, show_default=True, help="GPUs in the box (tensor parallel).")
@click.option("--vram", "vram_gb", type=float, help="VRAM per GPU in GB [default: the catalog's figure].")
@click.option("--uptime", default=0.95, show_default=True, help="Share of the day online, in (0, 1].")
@click.option("--utilization", default=0.5, show_default=True, help="Share of online time serving, (0, 1].")
@click.option(
    "--context", default=4096, show_default=True, help="Tokens per sequence the KV cache must hold."
)
@click.option(
    "--concurrency", default=8, show_default=True, help="Max concurrent sequences (worker setting)."
)
@click.option("--avg-input", default=500, show_default=True, help="Input tokens per request in the mix.")
@click.option("--avg-output", default=300, show_default=True, help="Output tokens per request in the mix.")
@click.option("--coefficient", default=1000, show_default=True, help="Your price coefficient (1000 = 1.0x).")
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
        _render_gpu(result, _console(), show_all)


@plan.command()
@click.option("--sources", is_flag=True, help="Print where every figure comes from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(sources: bool, as_json: bool) -> None:
    """List the model catalog."""
    catalog = load_catalog()
    if as_json:
        _emit_json({"models": catalog.models, "quantizations": catalog.quantizations})
        return
    table = Table(title="Model catalog")
    for col in (
        "model",
        "params",
        "active",
        "layers",
        "KV heads",
        "head dim",
        "KV/token",
        "context",
        "formats",
    ):
        table.add_column(col, justify="left" if col in ("model", "formats") else "right")
    for m in catalog.models:
        kv = m.kv_elements_per_token * DEFAULT_ASSUMPTIONS.kv_bytes_per_element
        heads = "MLA" if m.kv_latent_dim is not None else str(m.kv_heads)
        table.add_row(
            m.name, f"{m.total_params / GB:,.2f}B", f"{m.active_params / GB:,.2f}B", str(m.layers), heads,
            str(m.kv_latent_dim or m.head_dim), f"{kv / 1024:,.0f} KiB", f"{m.max_context:,}",
            ", ".join(m.quantizations),
        )  # fmt: skip
    console = _console()
    console.print(table)
    if sources:
        for m in catalog.models:
            console.print(f"[bold]{m.name}[/]: " + "; ".join(m.sources))


@plan.command()
@click.option("--sources", is_flag=True, help="Print where every figure comes from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def gpus(sources: bool, as_json: bool) -> None:
    """List the GPU catalog."""
    catalog = load_catalog()
    if as_json:
        _emit_json({"gpus": catalog.gpus})
        return
    table = Table(title="GPU catalog")
    for col in ("GPU", "architecture", "VRAM", "bandwidth", "BF16 dense", "confidential"):
        table.add_column(col, justify="left" if col in ("GPU", "architecture") else "right")
    for g in catalog.gpus:
        table.add_row(
            g.name, g.architecture, f"{g.vram_gb:g} GB", f"{g.bandwidth_gbps:,.0f} GB/s",
            f"{g.bf16_tflops:,.0f} TFLOPS", "yes" if g.confidential else "no",
        )  # fmt: skip
    console = _console()
    console.print(table)
    if sources:
        for g in catalog.gpus:
            console.print(f"[bold]{g.name}[/]: " + "; ".join(g.sources))


def _render_app(p: AppPlan, console: Console) -> None:
    i, u, a = p.inputs, p.usage_per_day, p.adjusted_per_day
    summary = Table(title=f"Traffic plan: {p.model} ({p.quant})", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row(
        "traffic", f"{i.daily_queries:,} queries/day x ({i.avg_input:,} in + {i.avg_output:,} out)"
    )
    summary.add_row(
        "tokens/day",
        f"prompt {u.prompt_tokens:,} (cached {u.cached_tokens:,}), "
        f"completion {u.completion_tokens:,} (reasoning {u.reasoning_tokens:,})",
    )
    summary.add_row(
        "adjusted tokens/day",
        f"{a.total:,} = {a.prompt:,} + {a.cached:,} + {a.completion:,} + {a.reasoning:,} "
        f"(coefficient {_x(i.coefficient)}, network multipliers)",
    )
    summary.add_row("price", f"{p.price_per_token} nanoTON per adjusted token")
    summary.add_row(
        "cost", f"{_ton(p.cost_per_day_nanoton)}/day, {_ton(p.cost_per_30_days_nanoton)} per 30 days"
    )
    summary.add_row(
        "stake",
        f"{_ton(p.recommended_stake_nanoton)} (10 min at {i.peak_factor:g}x peak = "
        f"{_ton(p.stake_for_10_min_peak_nanoton)}; network minimum {_ton(p.min_client_stake_nanoton)})",
    )
    summary.add_row(
        "peak load",
        f"{p.peak_requests_per_s:,.1f} req/s: prefill {p.peak_prefill_tokens_per_s:,.0f} tok/s, "
        f"decode {p.peak_decode_tokens_per_s:,.0f} tok/s",
    )
    console.print(summary)
    table = Table(title=f"GPUs needed at peak (batch {i.concurrency}, context {i.avg_input + i.avg_output})")
    for col in (
        "GPU",
        "confidential",
        "GPUs/replica",
        "replicas",
        "total GPUs",
        "decode tok/s",
        "prefill tok/s",
    ):
        table.add_column(col, justify="left" if col == "GPU" else "right")
    table.add_column("note")
    for o in p.gpu_options:
        if o.gpus_per_replica == 0:
            table.add_row(o.gpu, _yes(o.confidential), "-", "-", "-", "-", "-", o.note, style="dim")
            continue
        table.add_row(
            o.gpu, _yes(o.confidential), str(o.gpus_per_replica), str(o.replicas), str(o.total_gpus),
            f"{o.replica_decode_tokens_per_s:,.0f}", f"{o.replica_prefill_tokens_per_s:,.0f}", o.note,
        )  # fmt: skip
    console.print(table)
    _render_assumptions(p.assumptions, console)


def _render_gpu(p: GpuPlan, console: Console, show_all: bool) -> None:
    i = p.inputs
    console.print(
        f"[bold]{p.count} x {p.gpu}[/] ({p.architecture}, {p.vram_gb:g} GB each); {p.confidential_note}\n"
        f"context {i.context} x concurrency {i.concurrency}; earnings at {p.worker_fee_per_token} nanoTON "
        f"per adjusted token, coefficient {_x(i.coefficient)}, uptime {i.uptime:.0%}, utilization "
        f"{i.utilization:.0%}, mix {i.avg_input} in / {i.avg_output} out"
    )
    table = Table(title="Models on this box")
    for col in ("model", "format", "weights", "KV cache", "fits", "decode tok/s", "per stream", "TON/day"):
        table.add_column(col, justify="left" if col in ("model", "format", "fits") else "right")
    for option in _rows(p.options, show_all):
        table.add_row(*_gpu_row(option), style=None if option.fit.fits else "dim")
    console.print(table)
    console.print(
        "Earnings assume paid demand fills the stated utilization; the price per token is the same for "
        "every model, so a worker's coefficient is how larger models charge more."
    )
    _render_assumptions(p.assumptions, console)


def _rows(options: tuple[ModelOption, ...], show_all: bool) -> list[ModelOption]:
    """Fitting rows; for a model with none, its smallest format's row so the reason shows."""
    if show_all:
        return list(options)
    rows: list[ModelOption] = []
    for model in dict.fromkeys(o.model for o in options):
        mine = [o for o in options if o.model == model]
        fitting = [o for o in mine if o.fit.fits]
        rows.extend(fitting or [min(mine, key=lambda o: o.fit.required_bytes)])
    return rows


def _gpu_row(o: ModelOption) -> tuple[str, ...]:
    fit = o.fit
    weights, kv = f"{fit.weights_bytes / GB:,.1f} GB", f"{fit.kv_bytes / GB:,.1f} GB"
    if not fit.fits:
        return (o.model, o.quant, weights, kv, f"no: {fit.reason}", "-", "-", "-")
    assert o.decode_tokens_per_s is not None and o.per_stream_tokens_per_s is not None
    earned = _ton_rounded(o.earnings_per_day_nanoton or 0)
    return (
        o.model,
        o.quant,
        weights,
        kv,
        "yes",
        f"{o.decode_tokens_per_s:,.0f}",
        f"{o.per_stream_tokens_per_s:,.0f}",
        earned,
    )


def _render_assumptions(lines: tuple[str, ...], console: Console) -> None:
    console.print("[bold]Assumptions[/]")
    for line in lines:
        console.print(f"  - {line}")


def _ton_rounded(nano: int, digits: int = 3) -> str:
    """nanoTON as TON rounded half-up to ``digits`` decimals, in integer arithmetic (display only)."""
    unit = 10 ** (9 - digits)
    units = (nano + unit // 2) // unit
    whole, frac = divmod(units, 10**digits)
    return f"{whole:,}.{frac:0{digits}d}"


def _x(coefficient: int) -> str:
    """1000 -> '1.0x', 1250 -> '1.25x'."""
    text = f"{coefficient / 1000:.3f}".rstrip("0")
    return f"{text}0x" if text.endswith(".") else f"{text}x"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
