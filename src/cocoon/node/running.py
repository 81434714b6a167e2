"""A node once built: what it serves and the jobs that keep it going until it is stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

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

    async def run(self) -> None:
        """Run the jobs until cancelled; the first job that fails stops the others and raises."""
        async with asyncio.TaskGroup() as tasks:
            for job in self.jobs:
                tasks.create_task(job())
