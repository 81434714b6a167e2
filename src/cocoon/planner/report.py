"""Plans as plain text tables: what `cocoon plan` shows, independent of the terminal library.

Each function returns a :class:`Report` (heading lines, tables of strings, footer notes); the CLI only
draws it. Money is formatted from int nanoTON with integer arithmetic.
"""

from __future__ import annotations

import msgspec

from cocoon.payments.params import format_ton
from cocoon.planner.app import AppPlan
from cocoon.planner.assumptions import DEFAULT_ASSUMPTIONS
from cocoon.planner.catalog import GB, Catalog
from cocoon.planner.gpu import GpuPlan, ModelOption

DEMAND_NOTE = (
    "Earnings assume paid demand fills the stated utilization; the price per token is the same for every "
    "model, so a worker's coefficient is how larger models charge more."
)


class TableView(msgspec.Struct, frozen=True, kw_only=True):
    """A titled table of strings; ``left`` names the left-aligned columns (the rest are numbers)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    left: frozenset[str] = frozenset()
    dim: frozenset[int] = frozenset()  # indexes of rows to draw faint (cannot serve / does not fit)
    show_header: bool = True


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """Heading lines, tables and footer notes, in display order."""

    heading: tuple[str, ...] = ()
    tables: tuple[TableView, ...] = ()
    notes: tuple[str, ...] = ()


def ton(nano: int) -> str:
    """Exact TON with unit: ``16000000000 -> '16 TON'``."""
    return f"{format_ton(nano)} TON"


def ton_rounded(nano: int, digits: int = 3) -> str:
    """nanoTON as TON rounded half-up to ``digits`` decimals, in integers: ``1967032000 -> '1.967'``."""
    unit = 10 ** (9 - digits)
    whole, frac = divmod((nano + unit // 2) // unit, 10**digits)
    return f"{whole:,}.{frac:0{digits}d}"


def times(coefficient: int) -> str:
    """A price coefficient as a multiplier: ``1000 -> '1.0x'``, ``1250 -> '1.25x'``."""
    text = f"{coefficient / 1000:.3f}".rstrip("0")
    return f"{text}0x" if text.endswith(".") else f"{text}x"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def app_report(p: AppPlan) -> Report:
    """The cost/stake summary and the GPU capacity table of `cocoon plan app`."""
    i, u, a = p.inputs, p.usage_per_day, p.adjusted_per_day
    stake, minimum = ton(p.stake_for_10_min_peak_nanoton), ton(p.min_client_stake_nanoton)
    peak_in, peak_out = p.peak_prefill_tokens_per_s, p.peak_decode_tokens_per_s
    summary = (
        ("traffic", f"{i.daily_queries:,} queries/day x ({i.avg_input:,} in + {i.avg_output:,} out)"),
        ("tokens/day", f"prompt {u.prompt_tokens:,} (cached {u.cached_tokens:,}), "
                       f"completion {u.completion_tokens:,} (reasoning {u.reasoning_tokens:,})"),
        ("adjusted tokens/day", f"{a.total:,} = {a.prompt:,} + {a.cached:,} + {a.completion:,} + "
                                f"{a.reasoning:,} (coefficient {times(i.coefficient)}, network multipliers)"),
        ("price", f"{p.price_per_token} nanoTON per adjusted token"),
        ("cost", f"{ton(p.cost_per_day_nanoton)}/day, {ton(p.cost_per_30_days_nanoton)} per 30 days"),
        ("stake", f"{ton(p.recommended_stake_nanoton)} (10 min at {i.peak_factor:g}x peak = "
                  f"{stake}; network minimum {minimum})"),
        ("peak load", f"{p.peak_requests_per_s:,.1f} req/s: prefill {peak_in:,.0f} tok/s, "
                      f"decode {peak_out:,.0f} tok/s"),
    )  # fmt: skip
    rows: list[tuple[str, ...]] = []
    for o in p.gpu_options:
        if o.gpus_per_replica == 0:
            rows.append((o.gpu, _yes(o.confidential), "-", "-", "-", "-", "-", o.note))
        else:
            rows.append((
                o.gpu, _yes(o.confidential), str(o.gpus_per_replica), str(o.replicas), str(o.total_gpus),
                f"{o.replica_decode_tokens_per_s:,.0f}", f"{o.replica_prefill_tokens_per_s:,.0f}", o.note,
            ))  # fmt: skip
    gpus = TableView(
        title=f"GPUs needed at peak (batch {i.concurrency}, context {i.avg_input + i.avg_output})",
        columns=("GPU", "confidential", "GPUs/replica", "replicas", "total GPUs", "decode tok/s",
                 "prefill tok/s", "note"),
        rows=tuple(rows),
        left=frozenset({"GPU", "note"}),
        dim=frozenset(n for n, o in enumerate(p.gpu_options) if o.gpus_per_replica == 0),
    )  # fmt: skip
    head = TableView(
        title=f"Traffic plan: {p.model} ({p.quant})",
        columns=("item", "value"),
        rows=summary,
        left=frozenset({"item", "value"}),
        show_header=False,
    )
    return Report(tables=(head, gpus), notes=("Assumptions:", *p.assumptions))


def gpu_report(p: GpuPlan, show_all: bool) -> Report:
    """The fit/speed/earnings table of `cocoon plan gpu`."""
    i = p.inputs
    heading = (
        f"{p.count} x {p.gpu} ({p.architecture}, {p.vram_gb:g} GB each); {p.confidential_note}",
        f"context {i.context} x concurrency {i.concurrency}; earnings at {p.worker_fee_per_token} nanoTON "
        f"per adjusted token, coefficient {times(i.coefficient)}, uptime {i.uptime:.0%}, utilization "
        f"{i.utilization:.0%}, mix {i.avg_input} in / {i.avg_output} out",
    )
    options = shown_options(p.options, show_all)
    table = TableView(
        title="Models on this box",
        columns=("model", "format", "weights", "KV cache", "fits", "decode tok/s", "per stream", "TON/day"),
        rows=tuple(_gpu_row(o) for o in options),
        left=frozenset({"model", "format", "fits"}),
        dim=frozenset(n for n, o in enumerate(options) if not o.fit.fits),
    )
    return Report(heading=heading, tables=(table,), notes=(DEMAND_NOTE, "Assumptions:", *p.assumptions))


def shown_options(options: tuple[ModelOption, ...], show_all: bool) -> list[ModelOption]:
    """Fitting rows; for a model with none, its smallest format so the reason shows."""
    if show_all:
        return list(options)
    rows: list[ModelOption] = []
    for model in dict.fromkeys(o.model for o in options):
        mine = [o for o in options if o.model == model]
        rows.extend([o for o in mine if o.fit.fits] or [min(mine, key=lambda o: o.fit.required_bytes)])
    return rows


def _gpu_row(o: ModelOption) -> tuple[str, ...]:
    fit = o.fit
    weights, kv = f"{fit.weights_bytes / GB:,.1f} GB", f"{fit.kv_bytes / GB:,.1f} GB"
    if o.decode_tokens_per_s is None or o.per_stream_tokens_per_s is None:
        return (o.model, o.quant, weights, kv, f"no: {fit.reason}", "-", "-", "-")
    earned = ton_rounded(o.earnings_per_day_nanoton or 0)
    decode, stream = f"{o.decode_tokens_per_s:,.0f}", f"{o.per_stream_tokens_per_s:,.0f}"
    return (o.model, o.quant, weights, kv, "yes", decode, stream, earned)


def models_report(catalog: Catalog, sources: bool) -> Report:
    """The model catalog, optionally with every entry's sources."""
    rows = []
    for m in catalog.models:
        kv = m.kv_elements_per_token * DEFAULT_ASSUMPTIONS.kv_bytes_per_element
        heads = "MLA" if m.kv_latent_dim is not None else str(m.kv_heads)
        rows.append((
            m.name, f"{m.total_params / GB:,.2f}B", f"{m.active_params / GB:,.2f}B", str(m.layers), heads,
            str(m.kv_latent_dim or m.head_dim), f"{kv / 1024:,.0f} KiB", f"{m.max_context:,}",
            ", ".join(m.quantizations),
        ))  # fmt: skip
    table = TableView(
        title="Model catalog",
        columns=(
            "model",
            "params",
            "active",
            "layers",
            "KV heads",
            "head dim",
            "KV/token",
            "context",
            "formats",
        ),
        rows=tuple(rows),
        left=frozenset({"model", "formats"}),
    )
    notes = tuple(f"{m.name}: {'; '.join(m.sources)}" for m in catalog.models) if sources else ()
    return Report(tables=(table,), notes=notes)


def gpus_report(catalog: Catalog, sources: bool) -> Report:
    """The GPU catalog, optionally with every entry's sources."""
    rows = tuple(
        (g.name, g.architecture, f"{g.vram_gb:g} GB", f"{g.bandwidth_gbps:,.0f} GB/s",
         f"{g.bf16_tflops:,.0f} TFLOPS", _yes(g.confidential))
        for g in catalog.gpus
    )  # fmt: skip
    table = TableView(
        title="GPU catalog",
        columns=("GPU", "architecture", "VRAM", "bandwidth", "BF16 dense", "confidential"),
        rows=rows,
        left=frozenset({"GPU", "architecture"}),
    )
    notes = tuple(f"{g.name}: {'; '.join(g.sources)}" for g in catalog.gpus) if sources else ()
    return Report(tables=(table,), notes=notes)
