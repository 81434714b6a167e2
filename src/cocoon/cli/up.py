"""`cocoon up`: the whole local network in one command."""

from __future__ import annotations

import click


@click.command()
def up() -> None:
    """Start a local network: chain, proxy, two workers, a client; answer one real request.

    Not wired yet: the services land with the "End-to-end network" issue. Until then this command
    only says what it will do.
    """
    click.echo(
        "cocoon up will start, on 127.0.0.1: a local TON chain (13000) running our contracts, a proxy\n"
        "(11001 workers, 11002 clients), two workers serving SmolLM2-135M-Instruct through llama.cpp,\n"
        "and a funded client with the OpenAI API at http://127.0.0.1:10000/v1; then it sends one real\n"
        "request and prints the answer, tokens and cost. The services are not built yet."
    )
