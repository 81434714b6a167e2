"""The proof of spec/e2e.md on real processes: the proxy never holds a prompt or an answer.

`cocoon up --engine fake` (whose engine echoes the words of the last message) is started once with the
client's end-to-end encryption required and once with it off. Each run sends a random canary in a
prompt, streamed and whole, through the official `openai` SDK; the canary must come back to the app.
Then the test reads the proxy's logs, the files under its data directory and every writable region of
its process memory (``/proc/PID/maps`` + ``/proc/PID/mem``, as root): with end-to-end encryption the
canary is nowhere; with it off the same scan finds it in the proxy's memory, so the scan is known to
work. In both runs the proxy charged exactly what the receipts the app got say.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from netproc import RunningNet, node_pids, start_net, stop_net

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root"),
]

_WRITABLE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) rw")


def proxy_pid(net: RunningNet) -> int:
    """The proxy's process among those `cocoon up` started."""
    for pid in node_pids(net):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"proxy" in cmdline and b"run" in cmdline:
            return pid
    raise AssertionError(f"no proxy process among {node_pids(net)}")


def memory_holds(pid: int, needle: bytes) -> bool:
    """Whether any writable mapping of process ``pid`` contains ``needle``."""
    overlap = len(needle) - 1
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            match = _WRITABLE.match(line)
            if match is None:
                continue
            start, end = int(match[1], 16), int(match[2], 16)
            tail = b""
            for offset in range(start, end, 1 << 20):
                try:
                    mem.seek(offset)
                    block = mem.read(min(1 << 20, end - offset))
                except OSError:  # a mapping that cannot be read (guard pages, [vvar]): nothing there
                    break
                if needle in tail + block:
                    return True
                tail = block[-overlap:]
    return False


def files_holding(root: Path, needle: bytes) -> list[Path]:
    """Files under ``root`` whose bytes contain ``needle``."""
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def _ask(net: RunningNet, canary: str) -> tuple[int, int, list[str]]:
    """A whole and a streamed request with the canary; (cost, receipted cost, e2e headers seen)."""
    client = openai.OpenAI(base_url=net.base_url, api_key="local", max_retries=0)
    messages = [{"role": "user", "content": f"repeat {canary}"}]
    whole = client.chat.completions.with_raw_response.create(
        model=net.model,
        messages=messages,
        max_tokens=6,  # type: ignore[arg-type]
    )
    answer = whole.parse()
    assert canary in (answer.choices[0].message.content or "")
    extra = answer.model_extra or {}
    usage_extra = answer.usage.model_extra if answer.usage else {}
    cost = int((usage_extra or {})["total_cost"])
    receipts = [extra["receipt"]]
    flags = [whole.headers.get("x-cocoon-e2e", "")]

    stream = client.chat.completions.with_raw_response.create(
        model=net.model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    flags.append(stream.headers.get("x-cocoon-e2e", ""))
    text, last = "", None
    for chunk in stream.parse():
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        last = chunk
    assert canary in text
    assert last is not None and last.usage is not None
    streamed_extra = last.model_extra or {}
    cost += int((last.usage.model_extra or {})["total_cost"])
    receipts.append(streamed_extra["receipt"])
    receipted = sum(r["prompt_tokens"] + r["completion_tokens"] for r in receipts)
    return cost, receipted, flags


@pytest.fixture(scope="module", params=["required", "off"])
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNet]:
    running = start_net(
        tmp_path_factory.mktemp(f"net-{request.param}"), workers=2, env={"COCOON_E2E": request.param}
    )
    running.e2e = request.param  # type: ignore[attr-defined]
    yield running
    assert stop_net(running) == 0, running.output()


def test_the_canary_reaches_the_app_and_the_proxy_sees_it_only_without_e2e(net: RunningNet) -> None:
    canary = "canary" + secrets.token_hex(12)
    before = net.charged_nano()
    cost, receipted_tokens, flags = _ask(net, canary)
    e2e = net.e2e == "required"  # type: ignore[attr-defined]
    assert flags == (["1", "1"] if e2e else ["0", "0"])
    assert receipted_tokens > 0
    # What the app was told it paid is what the proxy's ledger charged.
    assert net.charged_nano() - before == cost

    needle = canary.encode()
    pid = proxy_pid(net)
    in_memory = memory_holds(pid, needle)
    logs = files_holding(net.data_dir / "logs", needle) if (net.data_dir / "logs").exists() else []
    proxy_files = files_holding(net.data_dir / "proxy", needle)
    if e2e:
        assert not in_memory, "the proxy's memory holds the prompt of an end-to-end encrypted request"
        assert not proxy_files, f"the proxy's files hold the prompt: {proxy_files}"
        assert not [p for p in logs if "proxy" in p.name], f"the proxy's log holds the prompt: {logs}"
        # The requests really were end-to-end encrypted, as the proxy counted them.
        assert net.proxy_stats()["routing"]["e2e_routed"] >= 2
    else:
        assert in_memory, "the scan did not find a plaintext prompt in the proxy: the scan does not work"
