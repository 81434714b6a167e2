"""CPU time and resident memory of a process, read from ``/proc`` (Linux).

CPU is ``utime + stime`` of ``/proc/<pid>/stat`` (all threads, including ones that ended), in clock
ticks (usually 10 ms): a measurement window must be long enough for that resolution.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def parse_stat_cpu_ticks(stat: str) -> int:
    """``utime + stime`` (clock ticks) from the text of ``/proc/<pid>/stat`` (pure).

    The command name (field 2) is in parentheses and may hold spaces or ``)``: split after the last one.
    """
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted from the state


def parse_status_rss_kib(status: str) -> int:
    """``VmRSS`` (KiB) from the text of ``/proc/<pid>/status``; 0 when absent (a zombie) (pure)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds ``pid`` used so far."""
    return parse_stat_cpu_ticks(Path(f"/proc/{pid}/stat").read_text()) / TICKS_PER_S


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` now, MiB."""
    return parse_status_rss_kib(Path(f"/proc/{pid}/status").read_text()) / 1024


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads' children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid``."""
    return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
