"""Our full network as separate processes: `cocoon up` with its workers on the benchmark's backend.

`cocoon up --engine-url <backend> --workers 1 --no-demo` starts, each as its own process, the local
chain (`cocoon chain serve`, the official TON emulator), then the proxy, one worker and the client
daemon, exactly as a person's `cocoon up` does: RA-TLS (fake quotes) on both node-to-node hops,
metering, the proxy's ledger, signed payments and settlement on the local chain, receipts, and the
client's end-to-end encryption to the worker as configured (``--e2e``, `cocoon up`'s default
``required``). The chain is on because settlement and payment signing are part of what the network
does per request; its process is measured but not counted in the chain of the request path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from procstat import children, cmdline
from setups import READY_S, REPO, Setup, stop

sys.path.insert(0, str(REPO / "tests"))  # the wait helper netproc uses
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from netproc import free_instance

ROLES = ("client", "proxy", "worker")


def setup_name(e2e: str) -> str:
    """The name of our setup with the client's end-to-end mode ``e2e`` (its row in the tables)."""
    return f"ours: client → proxy → worker, RA-TLS, metering, settlement, receipts, e2e {e2e}"


def start_ours(tmp: Path, backend_port: int, e2e: str, slots: int) -> Setup:
    """`cocoon up` on the backend, its worker given ``slots`` at once (the load's highest concurrency:
    the anchors have no slot limit, so a smaller one would measure the proxy's queue, not relaying)."""
    instance = free_instance(1)
    data = tmp / f"ours-{e2e}"
    data.mkdir()
    argv = [
        sys.executable,
        "-m",
        "cocoon.cli.main",
        "up",
        "--engine-url",
        f"http://127.0.0.1:{backend_port}/v1",
    ]
    argv += [
        "--workers",
        "1",
        "--slots",
        str(slots),
        "--instance",
        str(instance),
        "--data-dir",
        str(data),
        "--no-demo",
        "--e2e",
        e2e,
    ]
    with (data / "up.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=os.environ
        )
    port = 10000 + 10 * instance
    try:
        model = _wait_model(port, proc, data / "up.log")
    except BaseException:
        stop([proc], graceful=True)
        raise
    chain, side = {}, {"supervisor": proc.pid}
    for pid in children(proc.pid):
        argv_of = cmdline(pid)
        role = argv_of[argv_of.index("cocoon.cli.main") + 1] if "cocoon.cli.main" in argv_of else "?"
        if role in ROLES:
            chain[role] = pid
        else:
            side[role] = pid
    if set(chain) != set(ROLES):
        stop([proc], graceful=True)
        raise RuntimeError(f"cocoon up started {sorted(chain)} instead of {ROLES}")
    ordered = {r: chain[r] for r in ROLES}
    return Setup(setup_name(e2e), port, "/v1/chat/completions", model, ordered, side, [proc], graceful=True)


def _wait_model(port: int, proc: subprocess.Popen[bytes], log: Path) -> str:
    """The model id once the client lists a worker for it."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cocoon up exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as resp:
                models = json.loads(resp.read())["data"]
            if models and models[0].get("workers"):
                return str(models[0]["id"])
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"our network was not ready within {READY_S} s:\n{log.read_text(errors='replace')}")
