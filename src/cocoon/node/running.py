"""A node once built (what it serves, the jobs that keep it going) and what its builder takes in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cocoon.attestation.providers import QuoteProvider
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.ton.chain import Chain

S = TypeVar("S")

Job = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class RunningNode(Generic[S]):
    """A built role: its service, the port of its HTTP server, and the long-running jobs.

    :meth:`run` runs every job in one task group until cancelled (Ctrl-C) or until one fails; the
    builder that yielded this node closes everything it opened when its ``async with`` ends.
    """

    service: S
    http_port: int
    jobs: list[Job] = field(default_factory=list)
    admin_port: int | None = None
    """The port of a separate stats/admin server, when the role runs one apart from http_port."""

    async def run(self) -> None:
        """Run the jobs until cancelled; the first job that fails stops the others and raises."""
        async with asyncio.TaskGroup() as tasks:
            for job in self.jobs:
                tasks.create_task(job())


@dataclass(frozen=True)
class NodeDeps:
    """What a role's builder takes from outside instead of making it from the config (tests).

    ``None`` means: the real one the config names (the chain at ``chain_url``, the quote provider
    of ``quote_provider``); the clock is the system's unless a test passes a fake.
    """

    chain: Chain | None = None
    quote_provider: QuoteProvider | None = None
    clock: Clock = SYSTEM_CLOCK


REAL_DEPS = NodeDeps()
"""Everything real: what ``cocoon <role> run`` builds with."""
