"""Hosts as Linux network namespaces on one bridge, for multi-host tests (needs root and `ip`).

Each :class:`Hosts` run makes a bridge in a namespace of its own and one namespace per host, joined
to the bridge by a veth pair, each with an address in 10.213.0.0/24. Nothing touches the machine's
own interfaces: the bridge, the veths and the addresses exist only inside these namespaces, and
traffic stays between them. Names carry the test run's pid, so parallel runs do not clash.

Processes run on a host through ``ip netns exec``; the test itself reaches a host by entering its
namespace for one call (:meth:`Hosts.inside`): sockets opened meanwhile stay in that namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

SUBNET = "10.213.0"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def unavailable() -> str:
    """Why namespaces cannot be made here ('' when they can)."""
    if os.geteuid() != 0:
        return "the multi-host bed makes network namespaces, which needs root (run the tests as root)"
    if shutil.which("ip") is None:
        return "the multi-host bed needs the `ip` command (iproute2)"
    return ""


def _ip(*args: str, ns: str = "") -> None:
    argv = ["ip", "netns", "exec", ns, "ip", *args] if ns else ["ip", *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@dataclass
class Hosts:
    """The bridge and the hosts of one test run (:meth:`add` a host, :meth:`remove_all` at the end)."""

    prefix: str = field(default_factory=lambda: f"cmh{os.getpid()}")
    addresses: dict[str, str] = field(default_factory=dict)

    @property
    def bridge_ns(self) -> str:
        return f"{self.prefix}-br"

    def ns(self, host: str) -> str:
        """The namespace of ``host``."""
        return f"{self.prefix}-{host}"

    def create(self) -> None:
        """The bridge's namespace and the bridge (first removing namespaces of an earlier run that
        had this pid and was killed before its cleanup)."""
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
        for line in listed.stdout.splitlines():
            name = line.split(" ")[0]
            if name.startswith(f"{self.prefix}-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        _ip("netns", "add", self.bridge_ns)
        _ip("link", "add", "br0", "type", "bridge", ns=self.bridge_ns)
        _ip("link", "set", "br0", "up", ns=self.bridge_ns)

    def add(self, host: str) -> str:
        """A new host on the bridge; returns its address."""
        ns, number = self.ns(host), len(self.addresses) + 1
        address = f"{SUBNET}.{number}"
        _ip("netns", "add", ns)
        port = f"p{number}"  # the bridge end, named inside the bridge's namespace
        _ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns, ns=self.bridge_ns)
        _ip("link", "set", port, "master", "br0", "up", ns=self.bridge_ns)
        _ip("addr", "add", f"{address}/24", "dev", "eth0", ns=ns)
        _ip("link", "set", "eth0", "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        self.addresses[host] = address
        return address

    def partition(self, a: str, b: str) -> None:
        """Drop every packet between hosts ``a`` and ``b`` (a blackhole route on each side); the rest
        of the network still reaches both."""
        _ip("route", "add", "blackhole", f"{self.addresses[b]}/32", ns=self.ns(a))
        _ip("route", "add", "blackhole", f"{self.addresses[a]}/32", ns=self.ns(b))

    def join(self, a: str, b: str) -> None:
        """Heal :meth:`partition`."""
        _ip("route", "del", "blackhole", f"{self.addresses[b]}/32", ns=self.ns(a))
        _ip("route", "del", "blackhole", f"{self.addresses[a]}/32", ns=self.ns(b))

    def argv(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` run on ``host``."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def pids(self, host: str) -> list[int]:
        """Processes running in ``host``'s namespace."""
        done = subprocess.run(
            ["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True, check=False
        )
        return [int(p) for p in done.stdout.split()]

    @contextlib.contextmanager
    def inside(self, host: str) -> Iterator[None]:
        """Run the enclosed code's network calls from ``host`` (this thread only)."""
        with (
            open("/proc/thread-self/ns/net", "rb") as here,
            open(f"/run/netns/{self.ns(host)}", "rb") as there,
        ):
            _setns(there.fileno())
            try:
                yield
            finally:
                _setns(here.fileno())

    def remove_all(self) -> list[str]:
        """Delete every namespace of this run (killing what still runs there); returns what was left."""
        left: list[str] = []
        for host in list(self.addresses):
            for pid in self.pids(host):
                left.append(f"{host}: pid {pid}")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
        for ns in [*(self.ns(h) for h in self.addresses), self.bridge_ns]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self.addresses.clear()
        return left
