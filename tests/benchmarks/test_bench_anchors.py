"""The pure parts of benchmarks/bench_anchors.py keep working: /proc parsing, the load generator's
HTTP parsing, the fake backend's answers, the statistics and tables; and the backend and the load
generator talk to each other (in process, a fraction of a second; no timing is asserted)."""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "anchors"))

from backend import MODEL, BackendProtocol, answer_events, whole_answer
from loadgen import Conn, Scenario, request_bytes, run
from procstat import parse_stat_cpu_ticks, parse_status_rss_kib
from stats import NAN, Measurement, Summary, median, percentile, ratio, ratio_table, table

STAT = "4242 (python3 (x) y) S 1 4242 4242 0 -1 4194304 900 0 0 0 150 37 0 0 20 0 3 0 100 0 0"


def test_stat_cpu_ticks_skip_a_command_name_with_spaces_and_parentheses() -> None:
    assert parse_stat_cpu_ticks(STAT) == 150 + 37


def test_status_rss() -> None:
    assert parse_status_rss_kib("Name:\tpython3\nVmPeak:\t  9 kB\nVmRSS:\t  51200 kB\n") == 51200
    assert parse_status_rss_kib("Name:\tzombie\nState:\tZ\n") == 0


def test_percentile_median_ratio() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert math.isnan(percentile([], 50))
    assert median([3.0, NAN, 1.0, 2.0]) == 2.0
    assert math.isnan(median([NAN]))
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(NAN, 1.0))


def test_measurement_figures() -> None:
    m = Measurement(ok=200, errors=0, elapsed=2.0, tokens=16, cpu={"a": 0.1, "b": 0.3})
    assert m.rate == 100.0
    assert m.cpu_per_request_us == pytest.approx(2000.0)
    assert m.cpu_per_token_us == pytest.approx(125.0)
    assert math.isnan(Measurement(ok=10, errors=0, elapsed=1.0, tokens=16).cpu_per_request_us)


def _grid(latency: float, cpu: float | None, rate: int) -> dict[str, Summary]:
    """Every scenario with the same figures: p50 ``latency``, TTFT half of it, ``cpu`` s over 1 s."""
    m = Measurement(rate, 0, 1.0, 16, latency, latency / 2, {} if cpu is None else {"p": cpu}, {"p": 50.0})
    return {name: Summary([m, m, m]) for name in ("c1", "c32", "s32", "p1", "p128")}


def test_tables_show_medians_and_ratios_to_the_reference() -> None:
    grid = {
        "direct": _grid(0.0005, None, 4000),
        "floor": _grid(0.001, 1.0, 1000),
        "ours": _grid(0.002, 1.0, 500),
    }
    text = table(grid)
    assert "| ours | 2.00 ms | 2,000 / 2,000 | 500 | 500 | 2,000 | 125 / 125 | 1.00 ms | 50 | 0 |" in text
    assert "| direct | 0.50 ms | — / — | 4,000 |" in text
    ratios = ratio_table(grid, "floor")
    row = next(line for line in ratios.splitlines() if line.startswith("| ours"))
    # Twice the latency and CPU, half the rates; it adds 1.5 ms to direct where the floor adds 0.5 ms.
    assert row.split(" | ")[1:] == ["2.00×"] * 4 + ["0.50×"] * 2 + ["2.00×"] * 2 + ["3.00×", "3.00× |"]


def test_backend_answers_are_openai_shaped() -> None:
    whole = json.loads(whole_answer(4, 3))
    assert whole["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert len(whole["choices"][0]["message"]["content"].split()) == 4
    events = answer_events(4, 3, include_usage=True)
    assert len(events) == 5 and events[-1].endswith(b"data: [DONE]\n\n")
    chunks = [json.loads(e[len(b"data: ") :]) for e in b"".join(events).split(b"\n\n") if e[6:7] == b"{"]
    assert [c["choices"][0]["delta"].get("content") for c in chunks[:4]] == [
        "lorem ",
        "ipsum ",
        "dolor ",
        "sit ",
    ]
    assert chunks[-1]["usage"]["completion_tokens"] == 4


def test_request_bytes_carry_their_length() -> None:
    raw = request_bytes("127.0.0.1", 8000, "/v1/chat/completions", MODEL, Scenario("p", 1, True, 5, 10))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["stream_options"] == {"include_usage": True}
    assert "pace_ms=10" in json.loads(body)["messages"][0]["content"]


class _Transport(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass


@pytest.mark.parametrize("split", [1, 3, 7, 1000])
async def test_loadgen_parses_chunked_streams_split_anywhere(split: int) -> None:
    body = b"".join(answer_events(3, 2, include_usage=True))
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += (
        b"%x\r\n%s\r\n" % (10, body[:10]) + b"%x;ext=1\r\n%s\r\n" % (len(body) - 10, body[10:]) + b"0\r\n\r\n"
    )
    conn = Conn()
    conn.connection_made(_Transport())
    pending = asyncio.ensure_future(conn.request(b"GET / HTTP/1.1\r\n\r\n"))
    await asyncio.sleep(0)
    for at in range(0, len(raw), split):
        conn.data_received(raw[at : at + split])
    status, first, tail = await pending
    assert status == 200 and first > 0 and tail.endswith(b"data: [DONE]\n\n")


async def test_loadgen_reads_content_length_bodies() -> None:
    conn = Conn()
    conn.connection_made(_Transport())
    pending = asyncio.ensure_future(conn.request(b"GET / HTTP/1.1\r\n\r\n"))
    await asyncio.sleep(0)
    conn.data_received(b'HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\n{"a"')
    assert not pending.done()
    conn.data_received(b"}")
    assert (await pending)[0] == 404


@pytest.mark.parametrize("scenario", [Scenario("c", 2, False, 8), Scenario("p", 3, True, 3, pace_ms=1)])
async def test_loadgen_against_the_backend(scenario: Scenario) -> None:
    server = await asyncio.get_running_loop().create_server(BackendProtocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started: list[bool] = []
    try:
        raw = request_bytes("127.0.0.1", port, "/v1/chat/completions", MODEL, scenario)
        result = await run("127.0.0.1", port, raw, scenario, 0.05, on_start=lambda: started.append(True))
    finally:
        server.close()
        await server.wait_closed()
    assert started == [True]
    assert result.errors == 0 and result.first_error == ""
    assert result.ok >= scenario.concurrency and len(result.ttfts) == result.ok


def test_goals_are_printed_for_each_of_our_setups(capsys: pytest.CaptureFixture[str]) -> None:
    """`--e2e required off` runs ours twice: each gets its own block of goal ratios, named by its mode."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import bench_anchors

    ours = "ours: client → proxy → worker, RA-TLS, metering, settlement, receipts, e2e {}"
    grid = {
        "direct": _grid(0.0005, None, 4000),
        bench_anchors.FLOOR: _grid(0.001, 1.0, 1000),
        ours.format("required"): _grid(0.002, 1.5, 1000),
        ours.format("off"): _grid(0.002, 0.5, 1000),
    }
    for mode in ("required", "off"):
        bench_anchors.goals(grid, mode, None)
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "Ours (e2e required) against the floor and LiteLLM, this run:",
        "Ours (e2e off) against the floor and LiteLLM, this run:",
    ]
    assert "CPU per request, c=32 non-stream: 1.50× the floor's" in blocks[0]
    assert "CPU per request, c=32 non-stream: 0.50× the floor's" in blocks[1]
