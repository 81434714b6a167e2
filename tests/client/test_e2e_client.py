"""The client's side of end-to-end encryption: which workers it seals to, and what it makes of their
encrypted answers (spec/e2e.md).

Verdicts are checked on real certificates (fake quotes); the pool and the answers run through the
real `ProxyPool` and `ClientServing` over a fake proxy whose worker really opens the envelope and
seals its frames, so a test fails if any step of the protocol is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
from collections.abc import AsyncGenerator, Iterator
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from client_answers import CONTENT, USAGE_EVENT, as_stream, as_whole, chat, data_of, read_all
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from e2e_fakes import (
    MODEL,
    NOW,
    PROXY,
    FakeProxy,
    FakeWorker,
    certificate_with,
    fake_admission,
    key_unknown,
    make_pool,
    replace_statement,
    reroute,
    signed_statement,
    worker_identity,
)

from cocoon.attestation.certificate import RaTlsCertificate
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.providers import StaticQuoteProvider
from cocoon.attestation.receipt_e2e import E2EReceipt, SignedE2EReceipt, sign_e2e_receipt
from cocoon.attestation.statement import Statement, make_statement, model_hash
from cocoon.client.build import e2e_workers
from cocoon.client.dashboard import render_dashboard
from cocoon.client.e2e_verdict import Refused, VerdictCache, VerifiedKey, check_certificate, usable
from cocoon.client.e2e_workers import E2EWorkers
from cocoon.client.responses import EventStream, WholeAnswer
from cocoon.client.serving import ClientServing
from cocoon.client.stats import ClientStats
from cocoon.clock import FakeClock
from cocoon.e2e.envelope import read_header
from cocoon.e2e.suite import HpkeKeyPair, key_id
from cocoon.node.admission import ConfigAllowlist, WorkerAdmission
from cocoon.node.policy import make_policy
from cocoon.registry.owner import local_params
from cocoon.registry.snapshot import RegistrySnapshot
from cocoon.registry.snapshot import model_hash as registry_model_hash
from cocoon.roles import ClientConfig, E2EMode
from cocoon.ton.address import Address
from cocoon.wire.control import ControlBody
from cocoon.wire.headers import E2E_STALE_KEYS
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerHead, AnswerPart
from cocoon.wire.sse import DONE_EVENT

CONTENT2 = b'data: {"choices":[{"index":0,"delta":{"content":" there"}}]}\n\n'
WHOLE = json.dumps(
    {
        "id": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
).encode()


def _statement_of(cert_statement: bytes) -> tuple[Statement, bytes]:
    body, signature = msgspec.msgpack.decode(cert_statement, type=tuple[bytes, bytes])
    return msgspec.msgpack.decode(body, type=Statement), signature


# --- the verdict on one certificate -----------------------------------------------------------------


def test_a_worker_with_a_published_key_is_verified() -> None:
    worker = worker_identity()
    verdict = check_certificate(worker.certificate.der, fake_admission(), NOW)
    assert isinstance(verdict, VerifiedKey), verdict
    assert worker.keyring is not None and worker.keyring.current is not None
    assert verdict.public_key == worker.keyring.current.public_key
    assert verdict.key_id == key_id(verdict.public_key) == worker.keyring.current.key_id
    assert verdict.worker_key == worker.public_key
    assert usable(verdict, MODEL, NOW) is verdict


def test_a_worker_without_a_key_is_refused() -> None:
    verdict = check_certificate(worker_identity(e2e=False).certificate.der, fake_admission(), NOW)
    assert isinstance(verdict, Refused) and "no end-to-end key" in verdict.reason


def test_a_worker_of_another_model_is_not_usable_for_this_one() -> None:
    verdict = check_certificate(worker_identity(model="other@1:x").certificate.der, fake_admission(), NOW)
    assert isinstance(verdict, VerifiedKey)
    assert usable(verdict, "other@1:x", NOW) is verdict
    reason = usable(verdict, MODEL, NOW)
    assert isinstance(reason, str) and "attests model other@1:x, not m@1:abc" in reason


def test_an_expired_key_is_refused_and_a_cached_one_stops_being_usable() -> None:
    der = worker_identity().certificate.der
    verified = check_certificate(der, fake_admission(), NOW)
    assert isinstance(verified, VerifiedKey)
    later = NOW + 3 * 3600  # the key lives two refresh periods (2 h), the certificate a day
    assert verified.not_after < later
    verdict = check_certificate(der, fake_admission(), later)
    assert isinstance(verdict, Refused) and "expired" in verdict.reason
    assert isinstance(usable(verified, MODEL, later), str)


def test_a_key_id_that_is_not_the_keys_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    pair = HpkeKeyPair.generate(os.urandom, NOW + 3600)
    statement = replace_statement(
        make_statement(NOW, model_id=MODEL, model_hash=model_hash(MODEL)),
        e2e_suite=bytes.fromhex("002000010003"),
        e2e_kem_pk=pair.public_key,
        e2e_key_id=b"\x00" * 8,
        e2e_not_after=NOW + 3600,
    )
    cert = certificate_with(key, signed_statement(key, statement))
    verdict = check_certificate(cert.der, fake_admission(), NOW)
    assert isinstance(verdict, Refused) and "key id" in verdict.reason


def test_a_bad_quote_or_a_disallowed_image_is_refused() -> None:
    forged = worker_identity(provider=StaticQuoteProvider(bytes(64))).certificate.der
    verdict = check_certificate(forged, fake_admission(), NOW)
    assert isinstance(verdict, Refused) and verdict.reason.startswith("its attestation is refused")
    strict = WorkerAdmission(make_policy("fake"), ConfigAllowlist(["ab" * 32]))
    verdict = check_certificate(worker_identity().certificate.der, strict, NOW)
    assert isinstance(verdict, Refused) and "not allowed" in verdict.reason


def test_a_proxy_that_swaps_the_workers_key_is_refused() -> None:
    worker = worker_identity()
    ours = HpkeKeyPair.generate(os.urandom, NOW + 3600)  # the proxy's own key
    statement, signature = _statement_of(worker.certificate.statement)
    swapped = replace_statement(statement, e2e_kem_pk=ours.public_key, e2e_key_id=ours.key_id)
    # 1. a certificate whose statement body was swapped under the worker's signature
    forged = msgspec.msgpack.encode((msgspec.msgpack.encode(swapped), signature))
    cert = certificate_with(worker.private_key, forged)
    verdict = check_certificate(cert.der, fake_admission(), NOW)
    assert isinstance(verdict, Refused) and "signature" in verdict.reason, verdict
    # 2. the worker's own certificate with the key bytes replaced in place
    der = worker.certificate.der.replace(statement.e2e_kem_pk, ours.public_key)
    assert der != worker.certificate.der
    verdict = check_certificate(der, fake_admission(), NOW)
    assert isinstance(verdict, Refused) and "self-signature" in verdict.reason, verdict


def test_a_verdict_is_kept_until_it_expires() -> None:
    cache = VerdictCache()
    verdict = Refused(b"s" * 32, "no", NOW + 10)
    cache.put(verdict)
    assert cache.get(b"s" * 32, NOW + 9) is verdict
    assert cache.known(NOW + 9) == (b"s" * 32,)
    assert cache.get(b"s" * 32, NOW + 10) is None and len(cache) == 0


# --- the candidate pool ------------------------------------------------------------------------------


class CountingPolicy:
    """The fake worker policy, counting the certificates it is asked to verify."""

    name = "fake"

    def __init__(self) -> None:
        self.inner = fake_admission()
        self.calls = 0

    def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
        self.calls += 1
        return self.inner.verify(cert, now)


async def test_a_certificate_is_verified_once_and_named_as_known_afterwards() -> None:
    worker = FakeWorker("w1", worker_identity(), [])
    proxy = FakeProxy([worker])
    policy = CountingPolicy()
    clock = FakeClock(wall=NOW)
    pool = E2EWorkers(policy, clock)
    first = await pool.candidates(PROXY, proxy, MODEL, "/v1/chat/completions", 1000)
    assert [c.worker_id for c in first.chosen] == ["w1"] and first.fetched
    assert proxy.asked[0].known == () and proxy.asked[0].want == 8 and policy.calls == 1
    again = await pool.candidates(PROXY, proxy, MODEL, "/v1/chat/completions", 1000)
    assert not again.fetched and len(proxy.asked) == 1  # the list is kept for 20 s
    clock.advance(21)
    third = await pool.candidates(PROXY, proxy, MODEL, "/v1/chat/completions", 1000)
    assert third.fetched and proxy.asked[1].known == (worker.sha256,)
    assert policy.calls == 1  # the proxy sent no certificate, the verdict was reused
    assert third.chosen == first.chosen
    pool.invalidate(PROXY, MODEL, "/v1/chat/completions", 1000)
    await pool.candidates(PROXY, proxy, MODEL, "/v1/chat/completions", 1000)
    assert len(proxy.asked) == 3 and policy.calls == 1


async def test_requests_that_come_while_the_list_is_fetched_wait_for_it_and_the_proxy_is_asked_once() -> None:
    """A fresh list is read without waiting; a due one is fetched by one request while the others that
    come meanwhile wait for it and take the same list (the proxy is asked once per refresh)."""
    worker = FakeWorker("w1", worker_identity(), [])
    release = asyncio.Event()

    class SlowProxy(FakeProxy):
        async def query(self, body: ControlBody, timeout: float = 30.0) -> ControlBody:  # noqa: ASYNC109
            await release.wait()
            return await super().query(body, timeout)

    proxy = SlowProxy([worker])
    clock = FakeClock(wall=NOW)
    pool = E2EWorkers(fake_admission(), clock)
    ask = [
        asyncio.create_task(pool.candidates(PROXY, proxy, MODEL, "/v1/chat/completions", 1000))
        for _ in range(5)
    ]
    await asyncio.sleep(0)
    release.set()
    found = await asyncio.gather(*ask)
    assert len(proxy.asked) == 1
    assert [f.fetched for f in found] == [True, False, False, False, False]
    assert all([c.worker_id for c in f.chosen] == ["w1"] for f in found)

    release.clear()  # a fresh list is answered at once: nothing waits on the proxy
    fresh = await asyncio.wait_for(pool.candidates(PROXY, proxy, MODEL, "/v1/chat/completions", 1000), 1)
    assert not fresh.fetched and len(proxy.asked) == 1
    clock.advance(21)
    due = asyncio.create_task(pool.candidates(PROXY, proxy, MODEL, "/v1/chat/completions", 1000))
    await asyncio.sleep(0)
    assert not due.done()  # due: it asks the proxy again (and waits for the answer)
    release.set()
    assert (await due).fetched and len(proxy.asked) == 2


async def test_at_most_three_verified_workers_are_chosen_and_refusals_are_named() -> None:
    good = [FakeWorker(f"w{i}", worker_identity(), []) for i in range(4)]
    old = FakeWorker("old", worker_identity(e2e=False), [])
    proxy = FakeProxy([old, *good])
    found = await E2EWorkers(fake_admission(), FakeClock(wall=NOW)).candidates(
        PROXY, proxy, MODEL, "/v1/chat/completions", 1000
    )
    assert [c.worker_id for c in found.chosen] == ["w0", "w1", "w2"]
    assert [w for w, _ in found.refusals] == ["old"]


# --- requests: required, preferred, sealed -----------------------------------------------------------


def serving(proxy: FakeProxy, mode: E2EMode = "required") -> ClientServing:
    clock = FakeClock(wall=NOW)
    return ClientServing(make_pool(proxy, mode, clock), clock=clock)


async def test_required_without_a_verified_worker_is_a_503_naming_each_refusal() -> None:
    proxy = FakeProxy(
        [
            FakeWorker("w-old", worker_identity(e2e=False), [CONTENT]),
            FakeWorker("w-other", worker_identity(model="other@1:x"), [CONTENT]),
        ]
    )
    api = serving(proxy)
    answer = as_whole(await api.serve(chat()))
    assert answer.status == 503 and answer.headers["X-Cocoon-E2E"] == "0"
    error = json.loads(answer.body)["error"]
    assert error["code"] == "e2e_unavailable"
    assert "worker w-old: it states no end-to-end key" in error["message"]
    assert "worker w-other: it attests model other@1:x, not m@1:abc" in error["message"]
    assert 'e2e = "preferred"' in error["message"]
    assert proxy.queries == []  # nothing was sent
    assert (api.stats.failed, api.stats.e2e_requests, api.stats.plaintext_requests) == (1, 0, 0)


async def test_required_when_the_proxy_lists_nobody_says_so() -> None:
    answer = as_whole(await serving(FakeProxy([])).serve(chat()))
    assert answer.status == 503
    assert "the proxy listed no worker with an end-to-end key" in json.loads(answer.body)["error"]["message"]


async def test_preferred_without_a_verified_worker_downgrades_to_plaintext_and_counts_it() -> None:
    proxy = FakeProxy([FakeWorker("w-old", worker_identity(e2e=False), [CONTENT])])
    api = serving(proxy, "preferred")
    stream = as_stream(await api.serve(chat()))
    assert await read_all(stream) == [CONTENT, DONE_EVENT]
    assert stream.headers["X-Cocoon-E2E"] == "0"
    [query] = proxy.queries
    assert query.e2e is None and b'"messages"' in query.body
    stats = api.stats.snapshot()
    assert stats["e2e"] == {"e2e_requests": 0, "plaintext_requests": 1, "e2e_downgrades": 1}
    assert "cocoon_client_e2e_downgrades_total 1" in api.stats.prometheus()
    [recent] = stats["recent"]
    assert (recent["model"], recent["e2e"], recent["status"]) == (MODEL, False, 200)
    assert recent["cost_nano"] == 7000


async def _both(
    events: list[bytes], request_stream: bool, usage: bool = False, content_type: str = "text/event-stream"
) -> tuple[Any, Any, FakeProxy, ClientServing]:
    """The answer the app gets end-to-end encrypted and in plaintext, for the same worker answer."""
    worker = FakeWorker("w1", worker_identity(), events, content_type=content_type)
    sealed_proxy = FakeProxy([worker])
    sealed_api = serving(sealed_proxy)
    plain_api = serving(FakeProxy([worker]), "off")
    request = chat(stream=request_stream, usage=usage)
    results = []
    for api in (sealed_api, plain_api):
        answer = await api.serve(request)
        results.append(await read_all(answer) if isinstance(answer, EventStream) else answer)
        if isinstance(answer, EventStream):
            results[-1] = (answer.headers, results[-1])
    [query] = sealed_proxy.queries
    assert query.body == b"" and query.e2e is not None
    assert b"messages" not in msgspec.msgpack.encode(query)  # the proxy never sees the prompt
    assert worker.served == [request.engine_body_bytes()]
    return results[0], results[1], sealed_proxy, sealed_api


async def test_a_sealed_stream_reaches_the_app_as_the_plaintext_one_would() -> None:
    (headers, sealed), (plain_headers, plain), _, api = await _both([CONTENT, CONTENT2, USAGE_EVENT], True)
    assert sealed == plain == [CONTENT, CONTENT2, DONE_EVENT]
    assert (headers["X-Cocoon-E2E"], plain_headers["X-Cocoon-E2E"]) == ("1", "0")
    assert headers["Content-Type"] == "text/event-stream"
    assert (api.stats.e2e_requests, api.stats.succeeded, api.receipts.counters.verified) == (1, 1, 1)
    assert api.stats.snapshot()["recent"][0]["e2e"] is True


async def test_a_sealed_streams_usage_chunk_carries_cost_and_the_verified_v2_receipt() -> None:
    (_, sealed), (_, plain), proxy, api = await _both([CONTENT, USAGE_EVENT], True, usage=True)
    *_, usage_chunk, done = data_of(b"".join(sealed))
    *_, plain_usage, _ = data_of(b"".join(plain))
    receipt = usage_chunk.pop("receipt")
    assert usage_chunk == plain_usage and done == "[DONE]"
    assert receipt["version"] == 2 and receipt["request_id"] == proxy.queries[0].client_request_id
    assert receipt["envelope_sha256"] == proxy.queries[0].e2e.sha256().hex()  # type: ignore[union-attr]
    assert api.receipts.get(receipt["request_id"]) == receipt


async def test_requests_within_a_minute_share_the_workers_encapsulation_and_nothing_else() -> None:
    """The client seals every request to a worker key with one encapsulation for a minute
    (`cocoon.e2e.kem_reuse`): the worker opens each, computing the X25519 once; after the minute, a
    fresh one."""
    worker = FakeWorker("w1", worker_identity(), [CONTENT])
    proxy = FakeProxy([worker])
    api = serving(proxy)
    for _ in range(2):
        assert await read_all(as_stream(await api.serve(chat()))) == [CONTENT, DONE_EVENT]
    assert isinstance(api.clock, FakeClock)
    api.clock.advance(61)
    assert await read_all(as_stream(await api.serve(chat()))) == [CONTENT, DONE_EVENT]
    envelopes = [query.e2e for query in proxy.queries]
    assert len(envelopes) == 3 and all(envelope is not None for envelope in envelopes)
    encs = [envelope.wraps[0][:32] for envelope in envelopes]  # type: ignore[union-attr]
    assert encs[0] == encs[1] != encs[2]
    assert len({envelope.wraps[0] for envelope in envelopes}) == 3  # type: ignore[union-attr]
    assert len(worker.served) == 3 and api.receipts.counters.verified == 3
    keyring = worker.identity.keyring
    assert keyring is not None and len(keyring.decapsulations) == 2


async def test_a_sealed_whole_answer_reaches_the_app_as_the_plaintext_one_would() -> None:
    sealed, plain, _, api = await _both([WHOLE[:20], WHOLE[20:]], False, content_type="application/json")
    assert isinstance(sealed, WholeAnswer) and isinstance(plain, WholeAnswer)
    assert (sealed.status, sealed.headers["Content-Type"]) == (plain.status, plain.headers["Content-Type"])
    doc = json.loads(sealed.body)
    assert doc.pop("receipt")["version"] == 2
    assert doc == json.loads(plain.body) and doc["usage"]["total_cost"] == 7000
    assert sealed.headers["X-Cocoon-E2E"] == "1" and api.receipts.counters.verified == 1


async def test_a_receipt_that_does_not_match_is_not_shown() -> None:
    def other_id(receipt: E2EReceipt) -> E2EReceipt:
        return msgspec.structs.replace(receipt, request_id="someone-else")

    worker = FakeWorker("w1", worker_identity(), [WHOLE], content_type="application/json")
    worker.receipt_edit = other_id
    api = serving(FakeProxy([worker]))
    answer = as_whole(await api.serve(chat(stream=False)))
    assert answer.status == 200 and "receipt" not in json.loads(answer.body)
    assert (api.receipts.counters.verified, api.receipts.counters.failed) == (0, 1)


async def test_a_receipt_signed_by_a_worker_the_request_was_not_sealed_to_is_not_shown() -> None:
    worker = FakeWorker("w1", worker_identity(), [WHOLE], content_type="application/json")
    worker.signer = worker_identity()  # attested, serving the model, but not one of the candidates
    api = serving(FakeProxy([worker]))
    answer = as_whole(await api.serve(chat(stream=False)))
    assert answer.status == 200 and "receipt" not in json.loads(answer.body)
    assert (api.receipts.counters.verified, api.receipts.counters.failed) == (0, 1)


def _resigned(parts: list[AnswerPart]) -> list[AnswerPart]:
    """The proxy swaps the receipt's signature for a valid one of its own over the same receipt."""
    end = parts[-1]
    assert isinstance(end, AnswerEnd) and end.receipt is not None
    signed = SignedE2EReceipt.decode(end.receipt)
    forged = sign_e2e_receipt(signed.receipt, Ed25519PrivateKey.generate())
    swapped = msgspec.structs.replace(signed, signature=forged.signature)
    return [*parts[:-1], msgspec.structs.replace(end, receipt=swapped.encode())]


@pytest.mark.parametrize("tags", [True, False], ids=["tagged", "untagged"])
async def test_a_receipt_whose_signature_was_swapped_on_the_way_is_not_shown(tags: bool) -> None:
    """Caught by the tag the worker put over its signature, or (a worker that predates tags) by the
    signature itself; the untouched receipt is shown either way."""
    worker = FakeWorker("w1", worker_identity(), [WHOLE], content_type="application/json", tags=tags)
    proxy = FakeProxy([worker])
    api = serving(proxy)
    answer = as_whole(await api.serve(chat(stream=False)))
    receipt = json.loads(answer.body)["receipt"]
    assert receipt["signer"] == worker.identity.public_key.hex() and "tag" not in receipt
    proxy.tamper = _resigned
    answer = as_whole(await api.serve(chat(stream=False)))
    assert answer.status == 200 and "receipt" not in json.loads(answer.body)
    assert (api.receipts.counters.verified, api.receipts.counters.failed) == (1, 1)


# --- a relayed answer that was tampered with is never complete ----------------------------------------
# parts: [head, head frame, data, data, data, final frame, end]


def _swap(parts: list[AnswerPart]) -> list[AnswerPart]:
    return [*parts[:2], parts[3], parts[2], *parts[4:]]


def _flip(index: int) -> Any:
    def tamper(parts: list[AnswerPart]) -> list[AnswerPart]:
        chunk = parts[index]
        assert isinstance(chunk, AnswerChunk)
        data = bytearray(chunk.data)
        data[-1] ^= 1
        return [*parts[:index], AnswerChunk(chunk.request_id, bytes(data)), *parts[index + 1 :]]

    return tamper


def _unencrypted_head(parts: list[AnswerPart]) -> list[AnswerPart]:
    head = parts[0]
    assert isinstance(head, AnswerHead)
    return [AnswerHead(head.request_id, 200, head.headers), *parts[1:]]


TAMPERING = {
    "reordered": _swap,
    "dropped": lambda parts: [*parts[:3], *parts[4:]],
    "duplicated": lambda parts: [*parts[:3], parts[2], *parts[3:]],
    "missing final": lambda parts: [*parts[:5], parts[6]],
    "altered data": _flip(3),
    "altered head frame": _flip(1),
    "unencrypted": _unencrypted_head,
}


@pytest.mark.parametrize("how", list(TAMPERING))
async def test_a_tampered_stream_ends_with_an_upstream_error(how: str) -> None:
    proxy = FakeProxy([FakeWorker("w1", worker_identity(), [CONTENT, CONTENT2, USAGE_EVENT])])
    proxy.tamper = TAMPERING[how]
    api = serving(proxy)
    answer = await api.serve(chat(usage=True))
    if isinstance(answer, WholeAnswer):  # refused before the head reached the app
        assert answer.status == 502 and json.loads(answer.body)["error"]["code"] == "upstream_error"
    else:
        events = data_of(b"".join(await read_all(answer)))
        assert events[-1] == "[DONE]"
        assert events[-2]["error"]["code"] == "upstream_error", events
        assert not any(isinstance(e, dict) and "usage" in e for e in events)  # never shown complete
    assert api.stats.succeeded == 0 and api.stats.failed == 1
    assert proxy.cancels, "the request is cancelled end to end"


@pytest.mark.parametrize("how", list(TAMPERING))
async def test_a_tampered_whole_answer_is_a_502(how: str) -> None:
    worker = FakeWorker("w1", worker_identity(), [WHOLE[:10], WHOLE[10:30], WHOLE[30:]])
    worker.content_type = "application/json"
    proxy = FakeProxy([worker], tamper=TAMPERING[how])
    api = serving(proxy)
    answer = as_whole(await api.serve(chat(stream=False)))
    assert answer.status == 502, answer
    error = json.loads(answer.body)["error"]
    assert error["code"] == "upstream_error"
    assert "choices" not in json.loads(answer.body)
    assert api.stats.succeeded == 0 and api.receipts.counters.verified == 0


async def test_a_missing_final_frame_is_named() -> None:
    proxy = FakeProxy([FakeWorker("w1", worker_identity(), [WHOLE], content_type="application/json")])
    proxy.tamper = lambda parts: [*parts[:3], parts[4]]
    answer = as_whole(await serving(proxy).serve(chat(stream=False)))
    assert "the answer ended without its final frame" in json.loads(answer.body)["error"]["message"]


async def test_an_error_frame_of_a_non_200_answer_is_its_body() -> None:
    error_body = json.dumps({"error": {"message": "bad n", "type": "invalid_request_error"}}).encode()
    worker = FakeWorker("w1", worker_identity(), [], status=400, content_type="application/json")
    worker.error_body = error_body
    api = serving(FakeProxy([worker]))
    answer = as_whole(await api.serve(chat(stream=False)))
    assert answer.status == 400 and json.loads(answer.body) == json.loads(error_body)
    assert answer.headers["X-Cocoon-E2E"] == "1"
    assert api.receipts.counters.verified == 1


async def test_an_error_frame_after_data_ends_the_stream_with_its_message() -> None:
    error_body = json.dumps({"error": {"message": "the engine broke", "type": "upstream_error"}}).encode()
    worker = FakeWorker("w1", worker_identity(), [CONTENT], error_body=error_body, broken=True)
    api = serving(FakeProxy([worker]))
    events = data_of(b"".join(await read_all(as_stream(await api.serve(chat())))))
    assert events[0]["choices"][0]["delta"]["content"] == "hi"
    assert events[1]["error"]["code"] == "upstream_error"
    assert events[1]["error"]["message"] == "the engine broke"
    assert events[2] == "[DONE]" and api.stats.succeeded == 0


# --- reroute: sealed again to fresh keys ---------------------------------------------------------------


@pytest.mark.parametrize("first", [reroute, key_unknown])
async def test_a_reroute_reseals_to_the_fresh_key_and_the_app_sees_one_answer(first: Any) -> None:
    worker = FakeWorker("w1", worker_identity(), [CONTENT])
    proxy = FakeProxy([worker])
    old_sha = worker.sha256

    def rotate_then(query: Any) -> list[AnswerPart]:
        worker.identity.issue(NOW)  # a new certificate, a new key
        return list(first(query))

    proxy.answers = [rotate_then]
    api = serving(proxy)
    stream = as_stream(await api.serve(chat()))
    assert await read_all(stream) == [CONTENT, DONE_EVENT]
    assert stream.headers["X-Cocoon-E2E"] == "1"
    one, two = proxy.queries
    assert one.e2e is not None and two.e2e is not None
    keyring = worker.identity.keyring
    assert keyring is not None and keyring.current is not None and keyring.previous is not None
    assert read_header(one.e2e).key_ids == (keyring.previous.key_id,)
    assert read_header(two.e2e).key_ids == (keyring.current.key_id,)
    assert one.client_request_id == two.client_request_id and one.request_id != two.request_id
    assert len(proxy.asked) == 2 and proxy.asked[1].known == (old_sha,)
    assert (api.stats.started, api.stats.succeeded, api.receipts.counters.verified) == (1, 1, 1)


async def test_a_head_naming_stale_keys_makes_the_next_request_ask_for_fresh_candidates() -> None:
    """The proxy says some keys the envelope was sealed to are held by no worker any more (one
    restarted with a new key): the answer is served as usual, the hint is not shown to the app, and
    the next request asks that proxy for candidates again instead of using the kept list."""
    proxy = FakeProxy([FakeWorker("w1", worker_identity(), [CONTENT])])

    def stale_head(parts: list[AnswerPart]) -> list[AnswerPart]:
        head = parts[0]
        assert isinstance(head, AnswerHead)
        return [msgspec.structs.replace(head, headers=(*head.headers, (E2E_STALE_KEYS, "1"))), *parts[1:]]

    api = serving(proxy)
    proxy.tamper = stale_head
    stream = as_stream(await api.serve(chat()))
    assert await read_all(stream) == [CONTENT, DONE_EVENT]
    assert E2E_STALE_KEYS not in {name.lower() for name in stream.headers}
    assert len(proxy.asked) == 1
    proxy.tamper = lambda parts: parts
    assert await read_all(as_stream(await api.serve(chat()))) == [CONTENT, DONE_EVENT]
    assert len(proxy.asked) == 2  # asked again at once, not after REFRESH_S
    assert await read_all(as_stream(await api.serve(chat()))) == [CONTENT, DONE_EVENT]
    assert len(proxy.asked) == 2  # the fresh list is kept as usual
    workers = api.backend.workers  # type: ignore[attr-defined]
    assert workers.stats()["stale_lists"] == 1


async def test_reroutes_stop_after_two_resends() -> None:
    proxy = FakeProxy([FakeWorker("w1", worker_identity(), [CONTENT])], answers=[reroute, reroute, reroute])
    answer = as_whole(await serving(proxy).serve(chat()))
    assert answer.status == 503 and json.loads(answer.body)["error"]["code"] == "e2e_reroute"
    assert len(proxy.queries) == 3


async def test_an_app_that_leaves_cancels_the_sealed_request() -> None:
    proxy = FakeProxy([FakeWorker("w1", worker_identity(), [CONTENT, CONTENT2])])
    api = serving(proxy)
    stream = as_stream(await api.serve(chat()))
    assert await anext(stream) == CONTENT
    await stream.aclose()
    assert proxy.cancels and api.stats.cancelled == 1
    assert api.stats.snapshot()["recent"][0]["status"] == 499


# --- configuration, the root's allowlists, what is shown ---------------------------------------------


def _snapshot(models: set[str]) -> RegistrySnapshot:
    return RegistrySnapshot(
        root=Address(0, b"\x01" * 32),
        owner=None,
        version=1,
        chain_params=local_params(price_per_token=20, worker_fee_per_token=19),
        proxies={},
        last_proxy_seqno=0,
        proxy_hashes=frozenset(),
        worker_hashes=frozenset(),
        model_hashes=frozenset(registry_model_hash(m) for m in models),
    )


def test_the_client_encrypts_by_preference_and_checks_workers_with_the_fake_policy_by_default() -> None:
    config = ClientConfig()
    assert (config.e2e, config.worker_policy) == ("preferred", "fake")
    assert e2e_workers(msgspec.structs.replace(config, e2e="off"), None, FakeClock()) == (None, None)


def test_on_a_chain_the_roots_model_list_is_followed() -> None:
    node: Any = SimpleNamespace(registry=_snapshot({"other@1:x"}))
    workers, from_root = e2e_workers(ClientConfig(), node, FakeClock(wall=NOW))
    assert workers is not None and from_root is not None
    der = worker_identity().certificate.der
    verdict = check_certificate(der, workers.policy, NOW)
    assert isinstance(verdict, Refused) and "not allowed" in verdict.reason
    from_root.update(_snapshot({MODEL}))
    assert isinstance(check_certificate(der, workers.policy, NOW), VerifiedKey)
    # A config that lists its own hashes is not overridden by the root.
    own = ClientConfig(allowed_model_hashes=[model_hash(MODEL).hex()])
    workers, from_root = e2e_workers(own, node, FakeClock(wall=NOW))
    assert from_root is None and workers is not None
    assert isinstance(check_certificate(der, workers.policy, NOW), VerifiedKey)


def test_the_dashboard_lists_the_last_requests_and_the_e2e_counts() -> None:
    stats = ClientStats()
    stats.sent(e2e=True)
    stats.sent(e2e=False, downgraded=True)
    for i in range(60):
        stats.record(f"{i:016x}", MODEL, e2e=i % 2 == 0, status=200, cost_nano=1000)
    snapshot = stats.snapshot()
    assert len(snapshot["recent"]) == 50 and snapshot["recent"][0]["request_id"] == f"{59:016x}"
    page = render_dashboard({"client": snapshot, "e2e": {"mode": "required"}}, [], "http://x/v1")
    assert "Recent requests" in page and f"{59:016x}" in page and f"{9:016x}" not in page
    assert "e2e downgrades" in page and "(e2e required)" in page
    metrics = stats.prometheus()
    assert 'cocoon_client_sent_total{privacy="e2e"} 1' in metrics
    assert 'cocoon_client_sent_total{privacy="plaintext"} 1' in metrics


@contextlib.contextmanager
def dropped() -> Iterator[list[str]]:
    """The async generators left to the running loop's finalizer (each costs it a task and a wake-up
    write), by name: those of an answer read to its end must have been closed already."""
    firstiter, finalizer = sys.get_asyncgen_hooks()  # the running loop's (set as it started)
    names: list[str] = []

    def counting(agen: AsyncGenerator[Any, None]) -> None:
        names.append(agen.ag_code.co_qualname)
        if finalizer is not None:
            finalizer(agen)

    sys.set_asyncgen_hooks(firstiter, counting)
    try:
        yield names
    finally:
        sys.set_asyncgen_hooks(firstiter, finalizer)


@pytest.mark.parametrize("stream", [True, False])
async def test_an_answer_read_to_its_end_leaves_no_generator_to_the_finalizer(stream: bool) -> None:
    with dropped() as names:
        sealed, _, _, _ = await _both([CONTENT, USAGE_EVENT] if stream else [WHOLE], stream)
        gc.collect()
    assert names == []
    assert sealed[1] == [CONTENT, DONE_EVENT] if stream else sealed.status == 200
