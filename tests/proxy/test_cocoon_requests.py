"""A COCOON ``client.runQueryEx`` checked and turned into our RunQuery (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cocoon.errors import RequestError
from cocoon.proxy.cocoon_requests import request_path, run_query_of
from cocoon.tl.codec import encode
from cocoon.tl.types import ClientRunQueryEx, HttpHeader, HttpRequest

BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def query(
    body: dict[str, Any] | None = None, url: str = "/v1/chat/completions", **fields: Any
) -> ClientRunQueryEx:
    http = HttpRequest("POST", url, "HTTP/1.1", (HttpHeader("Host", "x"),), json.dumps(body or BODY).encode())
    values: dict[str, Any] = {
        "model_name": "m",
        "query": encode(http),
        "max_coefficient": 2000,
        "max_tokens": 300,
        "timeout": 10.0,
        "request_id": b"\x01" * 32,
        "min_config_version": 0,
    } | fields
    return ClientRunQueryEx(**values)


def test_the_query_caps_a_body_without_max_tokens_and_the_body_sizes_the_reservation() -> None:
    run = run_query_of(query(), 5, 0)
    assert (run.request_id, run.model, run.path, run.max_coefficient) == (
        5,
        "m",
        "/v1/chat/completions",
        2000,
    )
    assert run.max_tokens == 300 and json.loads(run.body)["max_tokens"] == 300
    assert run.client_request_id == "01" * 32 and 0 < run.timeout_ms < 10_000
    run = run_query_of(query(BODY | {"max_tokens": 40, "n": 3}), 6, 0)
    assert run.max_tokens == 120  # every choice may generate its cap
    # as the reference client sends it at protocol >= 3: debug flag and an all-zero key (no encryption)
    run = run_query_of(query(enable_debug=False, public_key=bytes(32)), 7, 0)
    assert run.request_id == 7 and not run.debug
    # without a root (no chain) any config version is accepted: there is nothing to be behind
    assert run_query_of(query(min_config_version=3), 8, None).request_id == 8


@pytest.mark.parametrize(
    "url", ["/v1/completions", "http://api.openai.com/v1/completions", "/v1/completions?x=1"]
)
def test_url_forms(url: str) -> None:
    assert request_path(url) == "/v1/completions"
    run = run_query_of(query({"model": "m", "prompt": "once upon"}, url=url), 1, 0)
    assert run.path == "/v1/completions"


@pytest.mark.parametrize(
    ("q", "status", "words"),
    [
        (query(model_name=""), 400, "model_name is empty"),
        (query(max_coefficient=-1), 400, "max_coefficient"),
        (query(max_tokens=-5), 400, "max_tokens"),
        (query(timeout=0.0), 400, "timeout"),
        (query(timeout=float("inf")), 400, "timeout"),
        (query(min_config_version=3), 503, "config version"),
        (query(public_key=b"\x01" * 32), 400, "encrypted"),
        (query(query=b"\x00\x01\x02\x03"), 400, "http.request"),
        (query(url="/v1/embeddings"), 404, "unsupported method"),
        (query(url="/v1/models"), 404, "unsupported method"),
        (query(BODY | {"model": "other"}), 400, "model_name"),
        (query(BODY | {"bogus": 1}), 400, "bogus"),
    ],
)
def test_refusals(q: ClientRunQueryEx, status: int, words: str) -> None:
    with pytest.raises(RequestError, match=words) as caught:
        run_query_of(q, 1, 0)
    assert caught.value.status == status
