"""``enable_debug`` end to end: the answer carries each hop's timings (client, proxy, worker), and
nothing extra without it.

A network in one process (`in_process_network`) driven by the official `openai` SDK, over our protocol
and over COCOON's (the proxy's COCOON port, where the hops travel in ``client.queryFinalInfo``'s
``worker_debug``/``proxy_debug``). All three nodes share one monotonic clock here, so besides each hop
being ordered, the hops nest: the worker's whole hop fits in the proxy's wait for it, which fits in
the client's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.wire.hops import final_info_strings, parse_hop
from cocoon.wire.messages import DebugTimings, HopTimings
from inprocess import in_process_network

MESSAGES = [{"role": "user", "content": "one two three four"}]
POINTS = {
    "client": ("received_ms", "sent_to_proxy_ms", "first_byte_from_proxy_ms", "done_ms"),
    "proxy": ("received_ms", "sent_to_worker_ms", "first_byte_from_worker_ms", "done_ms"),
    "worker": ("received_ms", "engine_called_ms", "engine_first_token_ms", "engine_done_ms"),
}


def check_hops(debug: Any) -> None:
    """Every hop present, its points non-negative and in order, and the hops nested."""
    assert isinstance(debug, dict) and set(debug) == set(POINTS)
    for node, names in POINTS.items():
        hop = debug[node]
        assert list(hop) == list(names), node
        values = [hop[name] for name in names]
        assert values[0] == 0 and all(v >= 0 for v in values), (node, values)
        assert values == sorted(values), (node, values)
    client, proxy, worker = debug["client"], debug["proxy"], debug["worker"]
    assert worker["engine_done_ms"] <= proxy["done_ms"] - proxy["sent_to_worker_ms"]
    assert proxy["done_ms"] <= client["done_ms"] - client["sent_to_proxy_ms"] + 1  # µs rounding
    assert client["done_ms"] > 0


async def test_debug_shows_every_hop_whole_and_streamed(tmp_path: Path) -> None:
    async with in_process_network(tmp_path, [MemoryEngine(FakeEngineConfig())]) as net:
        whole = await net.sdk.chat.completions.create(
            model=FAKE_MODEL, messages=MESSAGES, max_tokens=4, extra_body={"enable_debug": True}
        )
        check_hops((whole.model_extra or {})["debug"])
        assert whole.usage is not None and whole.choices[0].message.content

        # Streamed, without include_usage: the final (usage) chunk is sent for the debug object.
        stream = await net.sdk.chat.completions.create(
            model=FAKE_MODEL, messages=MESSAGES, max_tokens=4, stream=True, extra_body={"enable_debug": True}
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        last = chunks[-1]
        assert last.choices == [] and last.usage is not None
        check_hops((last.model_extra or {})["debug"])
        assert all("debug" not in (c.model_extra or {}) for c in chunks[:-1])

        plain = await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES, max_tokens=4)
        assert "debug" not in (plain.model_extra or {})
        stream = await net.sdk.chat.completions.create(
            model=FAKE_MODEL,
            messages=MESSAGES,
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
        plain_chunks = [chunk async for chunk in stream]
        assert plain_chunks[-1].usage is not None  # the usage chunk, asked for: still no debug in it
        assert all("debug" not in (c.model_extra or {}) for c in plain_chunks)
        stream = await net.sdk.chat.completions.create(
            model=FAKE_MODEL, messages=MESSAGES, max_tokens=4, stream=True
        )
        assert all(c.choices for c in [chunk async for chunk in stream])  # no extra chunk at all


async def test_debug_over_cocoons_protocol_travels_in_the_final_info(tmp_path: Path) -> None:
    async with in_process_network(tmp_path, [MemoryEngine(FakeEngineConfig())], cocoon=True) as net:
        whole = await net.sdk.chat.completions.create(
            model=FAKE_MODEL, messages=MESSAGES, max_tokens=4, extra_body={"enable_debug": True}
        )
        check_hops((whole.model_extra or {})["debug"])
        plain = await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES, max_tokens=4)
        assert "debug" not in (plain.model_extra or {})


def test_final_info_strings_read_back_and_foreign_ones_are_left_out() -> None:
    hops = DebugTimings(worker=HopTimings(1000, 2500, 9000), proxy=HopTimings(10, 20, 30_000))
    worker, proxy = final_info_strings(hops)
    assert json.loads(worker)["engine_first_token_ms"] == 2.5
    assert parse_hop("worker", worker) == hops.worker and parse_hop("proxy", proxy) == hops.proxy
    assert final_info_strings(DebugTimings(proxy=hops.proxy))[0] == ""
    hostile = [
        None,
        "",
        "not json",
        "[1, 2]",
        '{"engine_called_ms": -1, "engine_first_token_ms": 0, "engine_done_ms": 0}',
        '{"engine_called_ms": 1e300, "engine_first_token_ms": 0, "engine_done_ms": 0}',
        '{"engine_called_ms": NaN, "engine_first_token_ms": 0, "engine_done_ms": 0}',
        '{"engine_called_ms": Infinity, "engine_first_token_ms": 0, "engine_done_ms": 0}',
        '{"engine_called_ms": "x", "engine_first_token_ms": 0, "engine_done_ms": 0}',
        proxy,  # a proxy hop is not a worker hop
    ]
    for text in hostile:
        assert parse_hop("worker", text) is None, text


@pytest.mark.parametrize("node", ["client", "proxy", "worker"])
def test_each_nodes_points_are_named_for_what_they_are(node: str) -> None:
    from cocoon.wire.hops import hop_json

    assert tuple(hop_json(node, HopTimings(1, 2, 3))) == POINTS[node]
