"""The proxy's per-model view of its workers for /v1/models: capabilities and prices, aggregated."""

from __future__ import annotations

from typing import cast

from cocoon.net.rpc import RpcConnection
from cocoon.payments.params import Nano, NetworkParams
from cocoon.payments.pricing import token_prices
from cocoon.proxy.admission import admitted_offer
from cocoon.proxy.workers import WorkerLink, WorkerPool
from cocoon.wire.messages import WorkerState

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"


def offer(coefficient: int, context: int, endpoints: tuple[str, ...], model: str = "m") -> WorkerState:
    return WorkerState(True, model, coefficient, 4, 0, "", context, endpoints)


def pool(params: NetworkParams, *offers: WorkerState) -> WorkerPool:
    workers = WorkerPool(params=params)
    for i, state in enumerate(offers):
        workers.add(WorkerLink(f"w{i}", cast(RpcConnection, None), "img", state=state))
    return workers


def test_context_is_the_shortest_and_endpoints_the_union_with_each_workers_own() -> None:
    params = NetworkParams(
        price_per_token=Nano(20), worker_fee_per_token=Nano(19), completion_multiplier=20_000
    )
    workers = pool(
        params, offer(1000, 8192, (CHAT,)), offer(1500, 4096, (COMPLETIONS, CHAT)), offer(2000, 0, ())
    )
    (t,) = workers.worker_types()
    assert t.context_length == 4096  # the shortest stated; the silent worker does not count
    assert t.endpoints == (CHAT, COMPLETIONS)
    assert [(w.worker_id, w.context_length, w.endpoints) for w in t.worker_loads] == [
        ("w0", 8192, (CHAT,)),
        ("w1", 4096, (COMPLETIONS, CHAT)),
        ("w2", 0, ()),
    ]
    prices = [(w.prompt_nano_per_mtok, w.completion_nano_per_mtok) for w in t.worker_loads]
    # price 20 x coefficient/1000 per token, completion at a 2.0x multiplier, per million tokens
    assert prices == [(20_000_000, 40_000_000), (30_000_000, 60_000_000), (40_000_000, 80_000_000)]
    quoted = token_prices(1500, params)  # the one metering formula, applied to a million tokens
    assert prices[1] == (quoted.prompt, quoted.completion)


def test_models_are_aggregated_separately_and_unknown_context_stays_unknown() -> None:
    workers = pool(NetworkParams(), offer(1000, 0, (CHAT,), "a"), offer(1000, 2048, (CHAT,), "b"))
    by_model = {t.model: t for t in workers.worker_types()}
    assert by_model["a"].context_length == 0 and by_model["b"].context_length == 2048


def test_price_quotes_keep_fractions_of_a_nanoton_per_token() -> None:
    prices = token_prices(1234, NetworkParams(price_per_token=Nano(20), worker_fee_per_token=Nano(19)))
    assert (prices.prompt, prices.completion) == (24_680_000, 24_680_000)  # 24.68 nanoTON a token


def test_the_proxy_keeps_only_known_endpoint_names_once_each() -> None:
    declared = offer(1000, 2048, ("/v1/embeddings-from-the-future", COMPLETIONS, CHAT, CHAT))
    assert admitted_offer(declared).endpoints == (CHAT, COMPLETIONS)
    clean = offer(1000, 2048, (CHAT,))
    assert admitted_offer(clean) is clean
