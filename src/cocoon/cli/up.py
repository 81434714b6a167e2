"""`cocoon up`: the whole local network in one command."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import click

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import CocoonError

if TYPE_CHECKING:
    from cocoon.roles import E2EMode

T = TypeVar("T")

DEFAULT_DATA_DIR = Path("~/.cocoon/localnet")


@click.command()
@click.option(
    "--engine",
    type=click.Choice(["builtin", "fake"]),
    default="builtin",
    show_default=True,
    help="builtin: SmolLM2-135M-Instruct on llama.cpp (CPU); fake: the deterministic test engine.",
)
@click.option(
    "--engine-url", default=None, help="Use a running OpenAI-compatible engine instead of starting one."
)
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 9), help="Number of workers (1-9)."
)
@click.option(
    "--slots",
    default=None,
    type=click.IntRange(1, 4096),
    help="Requests each worker serves at the same time (its max_active). Default: 2 each of the "
    "built-in engine, else the worker's default (8).",
)
@click.option(
    "--instance", default=0, show_default=True, type=click.IntRange(0, 50), help="Shift every port by 10*N."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Configs, keys, ledger and logs.",
)
@click.option(
    "--e2e",
    type=click.Choice(["required", "preferred", "off"]),
    default="required",
    show_default=True,
    help="The client's end-to-end encryption to the workers (the proxy then sees no prompt or answer).",
)
@click.option(
    "--attestation",
    type=click.Choice(["fake", "tdx-vectors"]),
    default="fake",
    show_default=True,
    help="fake: fake quotes. tdx-vectors: DEMO of the tdx policy without TDX hardware: workers present a "
    "recorded real quote, the proxy and client verify it with DCAP against a local PCCS at a time "
    "pinned inside its collateral's window, without the key binding (never for real peers).",
)
@click.option(
    "--vectors",
    "vectors_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="COCOON_VECTORS",
    help="The recorded vectors for --attestation tdx-vectors (default: $COCOON_VECTORS).",
)
@click.option("--once", is_flag=True, help="Answer the demo request, then stop everything.")
@click.option("--no-demo", is_flag=True, help="Do not send the demo request.")
def up(
    engine: str,
    engine_url: str | None,
    workers: int,
    slots: int | None,
    instance: int,
    data_dir: Path,
    e2e: str,
    attestation: str,
    vectors_dir: Path | None,
    once: bool,
    no_demo: bool,
) -> None:
    """Start a local network (proxy, workers, engine, client) and answer one real request.

    Every node is a separate process on 127.0.0.1; Ctrl-C stops them all. The OpenAI base URL is
    printed when the network is ready.
    """
    from cocoon.localnet.up import LocalNetPlan

    plan = LocalNetPlan(
        data_dir=data_dir.expanduser(),
        engine="fake" if engine == "fake" else "builtin",
        engine_url=engine_url,
        workers=workers,
        slots=slots,
        base_port=10 * instance,
        e2e=cast("E2EMode", e2e),  # one of click's choices
        attestation="tdx-vectors" if attestation == "tdx-vectors" else "fake",
        vectors_dir=vectors_dir.expanduser() if vectors_dir is not None else None,
    )
    try:
        asyncio.run(_run(plan, demo=not no_demo, once=once))
    except CocoonError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


async def _run(plan: object, *, demo: bool, once: bool, clock: Clock = SYSTEM_CLOCK) -> None:
    from rich.console import Console

    from cocoon.localnet.up import LocalNet, LocalNetPlan, demo_request
    from cocoon.payments.params import format_ton

    assert isinstance(plan, LocalNetPlan)
    console = Console(highlight=False, soft_wrap=True)
    net = LocalNet(plan, lambda line: console.print(f"[dim]{line}[/dim]"), clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = clock.monotonic()
    if plan.attestation == "tdx-vectors":
        console.print(
            "[bold yellow]DEMO attestation tdx-vectors[/bold yellow]: workers present a RECORDED TDX quote; "
            "the proxy and the client verify it with DCAP (collateral from a local PCCS) at a pinned past "
            "time and without the key binding. This shows the tdx policy at work; it proves nothing about "
            "these machines."
        )
    try:
        models = await _until(stop, net.start())
        if models is None:
            return
        model = models[0]["id"]
        console.print(
            f"\n[bold green]network ready[/bold green] in {clock.monotonic() - started:.1f} s: "
            f"{len(models[0]['workers'])} workers serving [bold]{model}[/bold]"
        )
        if net.chain is not None:
            console.print(f"local chain {plan.chain_url}, root contract {net.chain.root.root.friendly()}")
        console.print(f"COCOON-protocol clients (reference runner, SDKs): proxy 127.0.0.1:{plan.cocoon_port}")
        if demo:
            answer = await _until(stop, demo_request(plan.openai_base_url, model, clock=clock))
            if answer is None:
                return
            usage = answer.usage
            console.print(f"\n[bold]demo request[/bold] ({answer.seconds:.2f} s): {answer.text.strip()!r}")
            console.print(
                "end-to-end encrypted: only the client and the answering worker could read it; the proxy "
                "routed and metered ciphertext"
                if answer.e2e
                else "not end-to-end encrypted (e2e is off): the proxy could read this request"
            )
            console.print(
                f"tokens: prompt {usage.get('prompt_tokens')}, completion {usage.get('completion_tokens')}, "
                f"adjusted {usage.get('adjusted_tokens')}; cost {usage.get('total_cost')} nanoTON "
                f"({format_ton(int(usage.get('total_cost') or 0))} TON)"
            )
        _print_usage(console, plan.openai_base_url, model.split("@", 1)[0], once=once)  # short names resolve
        if once:
            return
        await _show_status(console, net, stop)
    finally:
        console.print("[dim]stopping the local network...[/dim]")
        await net.stop()
        console.print("[dim]stopped.[/dim]")


async def _until(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """Run `work` unless Ctrl-C comes first."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task in done:
        return task.result()
    task.cancel()
    return None


def _print_usage(console: object, base_url: str, model: str, *, once: bool) -> None:
    from rich.console import Console

    assert isinstance(console, Console)
    console.print(f"\nOpenAI base URL: [bold]{base_url}[/bold]   dashboard: {base_url.removesuffix('/v1')}/")
    console.print("Try it:\n")
    console.print(
        f"  curl -s {base_url}/chat/completions -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello!"}}]}}\'\n',
        markup=False,
    )
    console.print(
        "  from openai import OpenAI\n"
        f'  client = OpenAI(base_url="{base_url}", api_key="unused")\n'
        f'  print(client.chat.completions.create(model="{model}", '
        'messages=[{"role": "user", "content": "Hello!"}]).choices[0].message.content)\n',
        markup=False,
    )
    if not once:
        console.print("Press Ctrl-C to stop.")


async def _show_status(console: object, net: object, stop: asyncio.Event) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from cocoon.localnet.up import LocalNet

    assert isinstance(console, Console) and isinstance(net, LocalNet)

    def table() -> Table:
        t = Table(title="local network", expand=False)
        for col in ("service", "pid", "state", "url", "slots"):
            t.add_column(col)
        t.add_column("wallet TON", justify="right")
        for row in net.status_rows():
            t.add_row(*row)
        return t

    await net.refresh_balances()
    with Live(table(), console=console, refresh_per_second=1, transient=False) as live:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                await net.refresh_balances()
                live.update(table())
