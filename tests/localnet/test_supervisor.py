"""The supervisor starts real processes, detects readiness and failures, and leaves no orphans."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from aiohttp import web

from cocoon.clock import FakeClock
from cocoon.errors import CocoonError
from cocoon.localnet.supervisor import ServiceSpec, Supervisor
from waiting import wait_until

HTTP_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("up", flush=True)
time.sleep(60)  # stays alive past SIGTERM: the behaviour under test, not synchronisation
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_ready_then_stopped(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    port = free_port()
    spec = ServiceSpec("web", [sys.executable, "-c", HTTP_SERVER, str(port)], f"http://127.0.0.1:{port}/")
    await sup.start_all([spec])
    state = sup.services["web"]
    assert state.state == "ready"
    pid = state.process.pid
    await sup.stop_all(grace_s=2)
    assert state.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "listening" in (tmp_path / "logs" / "web.log").read_text()


async def test_crash_while_starting_reports_the_log(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    code = "import sys; print('bad config: port taken'); sys.exit(3)"
    await sup.start(ServiceSpec("bad", [sys.executable, "-c", code], health_url="http://127.0.0.1:9/"))
    with pytest.raises(CocoonError, match="exited with code 3") as info:
        await sup.wait_ready("bad")
    assert "port taken" in str(info.value)


async def test_stubborn_process_is_killed_after_grace(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    state = await sup.start(ServiceSpec("stubborn", [sys.executable, "-c", IGNORES_SIGTERM]))
    # "up" is printed once SIGTERM is ignored: only then is the kill after the grace period tested
    await wait_until(lambda: "up" in state.log_path.read_text(), 10, what="the child ignores SIGTERM")
    assert await sup.stop("stubborn", grace_s=0.3) == -9


async def test_a_service_that_never_gets_healthy_times_out_on_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    checks = 0

    async def unhealthy(request: web.Request) -> web.Response:
        nonlocal checks
        checks += 1
        clock.advance(1.0)  # each health check takes a second of the fake clock
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/", unhealthy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sup = Supervisor(tmp_path / "logs", clock)
    waits_for_a_signal = [sys.executable, "-c", "import signal; signal.pause()"]
    try:
        await sup.start(
            ServiceSpec("slow", waits_for_a_signal, f"http://127.0.0.1:{port}/", ready_timeout_s=5)
        )
        with pytest.raises(CocoonError, match="slow did not become ready within 5 s"):
            await sup.wait_ready("slow")
        assert checks == 5  # one check per second of the timeout, then it gave up
        assert sup.services["slow"].state == "starting"
    finally:
        await sup.stop_all(grace_s=2)
        await runner.cleanup()
