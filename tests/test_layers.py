"""The layering DESIGN.md draws, checked on the source: imports point down only, the core stays pure.

Every top-level package or module of ``src/cocoon`` has one line in :data:`LAYERS`; a new package
(``tl/``, ``e2e/``) needs only that line. Two rules, read with :mod:`ast` from every import statement
(module level, inside functions and under ``TYPE_CHECKING`` alike):

- a unit imports only from its own layer or below; services do not import each other, except the
  edges in :data:`SIDEWAYS` (each says why); ``cli`` is on top and may import anything;
- the pure core imports none of :data:`SHELL_MODULES` and reads no clock (:data:`CLOCK_READS`, and
  ``<loop>.time()``): it takes ``now`` as an argument.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import cocoon

SRC = Path(cocoon.__file__).parent

CORE, SHELL, NODE, SERVICES, CLI = range(5)
LAYER_NAMES = {CORE: "pure core", SHELL: "asyncio shell", NODE: "node", SERVICES: "services", CLI: "cli"}

LAYERS: dict[str, int] = {
    # pure core: no asyncio, no sockets, no clock reads
    "__init__": CORE,  # the package root: its version only
    "api": CORE,
    "attestation": CORE,
    "payments": CORE,
    "planner": CORE,
    "ton": CORE,
    "wire": CORE,
    "tl": CORE,  # to come: the reference network's TL codec
    "e2e": CORE,  # to come: spec/e2e.md's envelopes and frames
    "errors": CORE,
    "metrics": CORE,  # Prometheus histograms and text format: plain ints, rendered on scrape
    "usage": CORE,  # token counts of one request, engine to proxy: one type every layer reads
    "config": CORE,  # TOML + environment -> frozen structs: reads a file, never the clock
    "roles": CORE,  # each role's config struct: data that every layer reads
    # asyncio shell
    "net": SHELL,
    "clock": SHELL,  # the one module that reads the system clock: services take a Clock from it
    # what every node needs: keys, identity, chain adapters, wallet, root following
    "node": NODE,
    "registry": NODE,
    "wallet": NODE,
    "chainsvc": NODE,
    # services, one package per role
    "client": SERVICES,
    "proxy": SERVICES,
    "worker": SERVICES,
    "engine": SERVICES,
    "localnet": SERVICES,  # starts the other roles as processes (`cocoon up`), never imports them
    # what people touch
    "cli": CLI,
}

SIDEWAYS: dict[tuple[str, str], str] = {
    ("worker", "engine"): "a worker serves through an engine: the Engine protocol and its HTTP client",
}
"""Imports between two services that are part of the design, with the reason."""

SHELL_MODULES = frozenset(
    {
        "asyncio",
        "aiohttp",
        "socket",
        "select",
        "selectors",
        "sqlite3",
        "urllib",
        "http",
        "ssl",
        "subprocess",
        "threading",
        "fcntl",
        "multiprocessing",
    }
)
"""Top-level modules the pure core never imports: event loops, sockets, databases, processes."""

CLOCK_READS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
    }
)
"""Functions that read the system clock (by their full dotted name, whatever the import alias)."""

KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}
"""(file relative to src/cocoon, forbidden import) -> why it is tolerated for now. Empty today."""


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    what: str
    """The forbidden import or clock read, as written (resolved to its full name)."""
    why: str

    def __str__(self) -> str:
        return f"src/cocoon/{self.path}:{self.line}: {self.what}: {self.why}"


def unit_of(path: str) -> str:
    """The top-level package or module a file belongs to (``ton/cells.py`` -> ``ton``)."""
    return path.split("/", 1)[0].removesuffix(".py")


def check_source(
    source: str, path: str, exceptions: dict[tuple[str, str], str] = KNOWN_EXCEPTIONS
) -> list[Violation]:
    """Every layering violation in one file; ``path`` is relative to ``src/cocoon`` (``ton/x.py``)."""
    tree = ast.parse(source, filename=path)
    unit = unit_of(path)
    if unit not in LAYERS:
        return [
            Violation(path, 1, f"cocoon.{unit}", "not in LAYERS: add one line for it to tests/test_layers.py")
        ]
    found: list[Violation] = []
    for line, module in _imports(tree, path):
        found.extend(_import_violation(path, unit, line, module))
    if LAYERS[unit] == CORE:
        found.extend(_clock_reads(tree, path))
    return [v for v in found if (v.path, v.what) not in exceptions]


def _imports(tree: ast.AST, path: str) -> list[tuple[int, str]]:
    """(line, full module name) of every import, wherever it stands in the file."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, path)
            if base == "cocoon":  # a unit (``from cocoon import proxy``) or a name of the root
                out.extend((node.lineno, _from_root(alias.name)) for alias in node.names)
            else:
                out.append((node.lineno, base))
    return out


def _from_root(name: str) -> str:
    """``from cocoon import name``: the unit ``cocoon.name``, or the root package for ``__version__``."""
    is_unit = name in LAYERS or (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()
    return f"cocoon.{name}" if is_unit else "cocoon"


def _absolute(node: ast.ImportFrom, path: str) -> str:
    """The absolute module a ``from ... import`` reads (relative imports resolved against ``path``)."""
    if not node.level:
        return node.module or ""
    package = ["cocoon", *path.split("/")[:-1]]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _import_violation(path: str, unit: str, line: int, module: str) -> list[Violation]:
    parts = module.split(".")
    if parts[0] != "cocoon":
        if LAYERS[unit] == CORE and parts[0] in SHELL_MODULES:
            return [Violation(path, line, f"import {module}", "the pure core does no I/O of this kind")]
        return []
    target = parts[1] if len(parts) > 1 else "__init__"
    if target == unit:
        return []
    if target not in LAYERS:
        return [Violation(path, line, f"import {module}", f"cocoon.{target} is not in LAYERS")]
    mine, theirs = LAYERS[unit], LAYERS[target]
    if theirs > mine:
        why = f"{unit} ({LAYER_NAMES[mine]}) may not import upwards from {LAYER_NAMES[theirs]}"
        return [Violation(path, line, f"import {module}", why)]
    if theirs == mine == SERVICES and (unit, target) not in SIDEWAYS:
        why = f"services do not import each other ({unit} -> {target}); see SIDEWAYS"
        return [Violation(path, line, f"import {module}", why)]
    return []


def _clock_reads(tree: ast.AST, path: str) -> list[Violation]:
    aliases = _aliases(tree)
    found: list[Violation] = []
    for node in ast.walk(tree):
        name = _dotted(node, aliases)
        if name in CLOCK_READS:
            found.append(
                Violation(path, node.lineno, name, "the pure core takes `now`; it never reads the clock")
            )
        elif _is_loop_time(node):
            found.append(Violation(path, node.lineno, "loop.time()", "the pure core takes `now`"))
    return found


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> full dotted name, from every import of the file (``import time as t``: t -> time)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                out[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, its first name replaced by what it was imported as."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(attrs)])


def _is_loop_time(node: ast.AST) -> bool:
    """``loop.time()``, ``self._loop.time()``, ``asyncio.get_running_loop().time()``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "time"):
        return False
    owner = node.func.value
    if isinstance(owner, ast.Call):
        owner = owner.func
    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
    return "loop" in name.lower()


def check_package(
    root: Path = SRC, exceptions: dict[tuple[str, str], str] = KNOWN_EXCEPTIONS
) -> list[Violation]:
    """Every violation under ``root`` (``src/cocoon``)."""
    found: list[Violation] = []
    for file in sorted(root.rglob("*.py")):
        rel = file.relative_to(root).as_posix()
        found.extend(check_source(file.read_text(encoding="utf-8"), rel, exceptions))
    return found


# ---------------------------------------------------------------- the package


def test_imports_point_down_and_the_core_is_pure() -> None:
    violations = check_package()
    assert not violations, "layering violations (DESIGN.md, Layers):\n" + "\n".join(map(str, violations))


def test_every_package_has_a_layer() -> None:
    units = {unit_of(p.relative_to(SRC).as_posix()) for p in SRC.rglob("*.py")}
    assert units - set(LAYERS) == set()


def test_known_exceptions_are_still_needed() -> None:
    found = {(v.path, v.what) for v in check_package(exceptions={})}
    assert set(KNOWN_EXCEPTIONS) <= found, "drop the entries of KNOWN_EXCEPTIONS that no longer occur"


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("path", "source", "line", "what"),
    [
        ("ton/x.py", "import asyncio\n", 1, "import asyncio"),
        ("wire/x.py", "import os\nfrom urllib.parse import quote\n", 2, "import urllib.parse"),
        ("payments/x.py", "def f():\n    import sqlite3\n", 2, "import sqlite3"),
        ("ton/x.py", "from cocoon.net.rpc import RpcConnection\n", 1, "import cocoon.net.rpc"),
        ("wallet/x.py", "from cocoon import proxy\n", 1, "import cocoon.proxy"),
        ("net/x.py", "from ..registry import reader\n", 1, "import cocoon.registry"),
        ("proxy/x.py", "import cocoon.client.network\n", 1, "import cocoon.client.network"),
        ("engine/x.py", "from cocoon.worker.service import Worker\n", 1, "import cocoon.worker.service"),
        ("ton/x.py", "import time\nnow = time.time()\n", 2, "time.time"),
        ("ton/x.py", "import time as t\n\nnow = t.monotonic()\n", 3, "time.monotonic"),
        ("planner/x.py", "from time import perf_counter as pc\nstart = pc()\n", 2, "time.perf_counter"),
        ("api/x.py", "from datetime import datetime\nd = datetime.now()\n", 2, "datetime.datetime.now"),
        ("errors.py", "import datetime\nd = datetime.date.today()\n", 2, "datetime.date.today"),
        ("wire/x.py", "def f(loop):\n    return loop.time()\n", 2, "loop.time()"),
    ],
)
def test_checker_reports_file_line_and_what(path: str, source: str, line: int, what: str) -> None:
    violations = check_source(source, path)
    assert [v.what for v in violations] == [what]
    assert str(violations[0]).startswith(f"src/cocoon/{path}:{line}: {what}: ")


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("ton/x.py", "from cocoon.errors import ChainError\nfrom cocoon.ton.cells import Cell\n"),
        ("ton/x.py", "from datetime import UTC, datetime\nt = datetime.fromtimestamp(0, UTC)\n"),
        ("net/x.py", "import asyncio\nimport time\nfrom cocoon.attestation import policy\nt = time.time()\n"),
        ("registry/x.py", "from cocoon.chainsvc.lite import LiteChain\nfrom cocoon.clock import Clock\n"),
        ("worker/x.py", "from cocoon.engine.protocol import Engine\n"),
        ("cli/x.py", "from cocoon.proxy import service\nfrom cocoon.client import network\n"),
    ],
)
def test_checker_accepts_what_the_layers_allow(path: str, source: str) -> None:
    assert check_source(source, path) == []


def test_checker_asks_for_a_line_for_a_new_package() -> None:
    (violation,) = check_source("x = 1\n", "newpkg/x.py")
    assert "add one line" in violation.why
