"""The proxy's side of end-to-end encryption (spec/e2e.md), on a real proxy with fake e2e workers.

Routing goes only to the workers an envelope is sealed to, retries among them before the first frame
and answers `e2e_reroute` when none is left; the header must agree with the request; every frame is
relayed byte for byte (the client opens them) and the worker's v2 receipt must match what was relayed
before anything is charged; certificates workers re-send are verified before their keys are used;
`E2ECandidates` lists the eligible workers, best first.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from proxy_e2e_fakes import (
    ANSWER,
    CHAT,
    MODEL,
    USAGE,
    E2ENet,
    FakeE2EWorker,
    bad_envelope,
    e2e_net,
    worker_identity,
)

from cocoon.api.error_codes import E2E_KEY_UNKNOWN, E2E_REROUTE, WORKER_CODES, Fault, worker_fault
from cocoon.e2e.envelope import read_header
from cocoon.e2e.frames import FrameType
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.suite import HpkeKeyPair
from cocoon.payments.pricing import adjusted_tokens
from cocoon.proxy.accounts import Reservation
from cocoon.proxy.service import make_stats_app
from cocoon.usage import Usage
from cocoon.wire.control import E2ECandidateList, E2ECandidates
from cocoon.wire.headers import E2E_STALE_KEYS
from cocoon.wire.messages import AnswerChunk, AnswerHead
from waiting import wait_until


def cost_of(net: E2ENet, usage: Usage, coefficient: int = 1000) -> int:
    return adjusted_tokens(usage, coefficient, net.proxy.params).total * net.proxy.params.price_per_token


def test_the_e2e_codes_and_whose_fault_they_are() -> None:
    assert worker_fault(503, E2E_KEY_UNKNOWN) is Fault.UNAVAILABLE
    assert worker_fault(400, "e2e_stale") is Fault.UNAVAILABLE  # that worker's clock may be off
    for code in ("e2e_header_mismatch", "e2e_replay", "e2e_open_failed", "e2e_bad_envelope"):
        assert worker_fault(400, code) is Fault.REQUEST, code
        assert worker_fault(500, code) is Fault.ENGINE  # a request fault must come with a 4xx
    assert worker_fault(400, "e2e_unsupported") is Fault.REQUEST
    assert E2E_REROUTE not in WORKER_CODES  # the proxy's own answer, never a worker's


# --- routing ----------------------------------------------------------------------------------------


async def test_a_sealed_request_goes_only_to_listed_workers_and_arrives_byte_for_byte(tmp_path: Path) -> None:
    a, b, c = FakeE2EWorker("a"), FakeE2EWorker("b"), FakeE2EWorker("c")
    async with e2e_net(tmp_path, [a, b, c]) as net:
        for _ in range(6):
            sealed = net.client.seal([a.key(), b.key()])
            answer = await net.client.ask(sealed)
            end = answer.end
            # The client opened every frame with the nonce relayed in the head: nothing altered.
            assert answer.opened[0][0] is FrameType.HEAD
            assert answer.opened[-1][0] is FrameType.FINAL
            assert b"".join(p for k, p in answer.opened if k is FrameType.DATA).startswith(ANSWER)
            assert end.usage == USAGE and end.receipt is not None
            assert end.cost == cost_of(net, USAGE)
            # The worker got the envelope unchanged and an empty body.
            (forwarded,) = [call for w in (a, b) for call in w.calls if call.e2e == sealed.envelope]
            assert forwarded.body == b""
        assert c.calls == []
        assert len(a.calls) + len(b.calls) == 6
        counters = net.proxy.router.counters
        assert counters.e2e_routed == 6 and counters.succeeded == 6 and counters.receipt_mismatches == 0
        assert net.charged_nano() == 6 * cost_of(net, USAGE)


async def test_a_request_sealed_to_no_connected_worker_is_rerouted_and_costs_nothing(
    tmp_path: Path,
) -> None:
    a = FakeE2EWorker("a")
    elsewhere = HpkeKeyPair.generate(os.urandom, int(time.time()) + 3600)  # a worker not behind this proxy
    async with e2e_net(tmp_path, [a]) as net:
        answer = await net.client.ask(net.client.seal([(elsewhere.key_id, elsewhere.public_key)]))
        error = answer.error
        assert (error.status, error.code) == (503, E2E_REROUTE)
        assert "fetch fresh end-to-end candidates" in error.message
        assert a.calls == []  # an unlisted worker never gets it, even though it is free
        assert net.proxy.router.counters.e2e_rerouted == 1
        assert net.charged_nano() == 0
        assert net.proxy.book.reserved_tokens(net.client.client_id) == 0


async def test_a_listed_worker_that_no_longer_holds_the_key_is_retried_on_another_listed_one(
    tmp_path: Path,
) -> None:
    a, b, c = FakeE2EWorker("a"), FakeE2EWorker("b"), FakeE2EWorker("c")
    async with e2e_net(tmp_path, [a, b, c]) as net:
        a.behaviour.refuse = E2E_KEY_UNKNOWN
        net.link(b).latency_s = net.link(c).latency_s = 50.0  # a looks best: it is asked first
        answer = await net.client.ask(net.client.seal([a.key(), b.key()]))
        assert answer.end.usage == USAGE
        assert len(a.calls) == 1 and len(b.calls) == 1 and c.calls == []
        assert a.calls[0].e2e == b.calls[0].e2e  # the same envelope, unchanged
        assert net.proxy.router.counters.retried == 1
        assert net.charged_nano() == cost_of(net, USAGE)


async def test_when_every_listed_worker_fails_before_its_first_frame_the_client_reroutes(
    tmp_path: Path,
) -> None:
    a, b, c = FakeE2EWorker("a"), FakeE2EWorker("b"), FakeE2EWorker("c")
    async with e2e_net(tmp_path, [a, b, c]) as net:
        a.behaviour.refuse = b.behaviour.refuse = E2E_KEY_UNKNOWN
        answer = await net.client.ask(net.client.seal([a.key(), b.key()]))
        error = answer.error
        assert (error.status, error.code) == (503, E2E_REROUTE)
        assert error.message.count("refused") == 2  # what each listed worker said
        assert len(a.calls) == 1 and len(b.calls) == 1 and c.calls == []
        assert net.charged_nano() == 0


async def test_an_envelope_refusal_is_passed_on_and_not_retried(tmp_path: Path) -> None:
    a, b = FakeE2EWorker("a"), FakeE2EWorker("b")
    async with e2e_net(tmp_path, [a, b]) as net:
        sealed = net.client.seal([a.key(), b.key()])
        assert (await net.client.ask(sealed)).end.usage == USAGE
        served = len(a.calls) + len(b.calls)
        other = b if a.calls else a
        net.link(other).latency_s = 50.0  # the same worker is asked again (the other has not seen it)
        replayed = await net.client.ask(sealed)  # the same envelope again: the worker refuses it
        assert (replayed.error.status, replayed.error.code) == (400, "e2e_replay")
        assert len(a.calls) + len(b.calls) == served + 1
        assert net.charged_nano() == cost_of(net, USAGE)


async def test_all_listed_workers_busy_while_another_is_free_means_reroute(tmp_path: Path) -> None:
    a, b = FakeE2EWorker("a", max_active=1), FakeE2EWorker("b")
    async with e2e_net(tmp_path, [a, b]) as net:
        net.link(a).active = 1  # its one slot is taken
        answer = await net.client.ask(net.client.seal([a.key()]))
        assert answer.error.code == E2E_REROUTE
        assert a.calls == [] and b.calls == []


async def test_a_queued_sealed_request_is_rerouted_once_another_worker_frees_a_slot(tmp_path: Path) -> None:
    """Queued because every worker was busy, it is woken by a slot freeing on a worker it is not sealed
    to and answered `e2e_reroute` then, not at its queue timeout."""
    a, b = FakeE2EWorker("a", max_active=1), FakeE2EWorker("b", max_active=1)
    async with e2e_net(tmp_path, [a, b]) as net:
        router = net.proxy.router
        router.queue_timeout_s = 30
        net.link(a).active = net.link(b).active = 1
        asked = asyncio.create_task(net.client.ask(net.client.seal([a.key()])))
        await wait_until(lambda: router.queued == 1)
        started = time.monotonic()
        net.link(b).active = 0
        answer = await asyncio.wait_for(asked, 5)
        assert answer.error.code == E2E_REROUTE and time.monotonic() - started < 2
        assert a.calls == [] and b.calls == [] and router.queued == 0


# --- the header -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_tokens": 65}, "max_tokens"),
        ({"model": "other-model"}, "model"),
        ({"max_coefficient": 9000}, "max_coefficient"),
        ({"client_request_id": "ffff"}, "client_request_id"),
        ({"path": "/v1/completions"}, "endpoint"),
    ],
)
async def test_routing_fields_that_differ_from_the_header_are_refused_before_reserving(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        answer = await net.client.ask(net.client.seal([a.key()]), **change)
        error = answer.error
        assert (error.status, error.code) == (400, "e2e_header_mismatch")
        assert field in error.message and "nothing was charged" in error.message
        assert a.calls == [] and net.charged_nano() == 0
        counters = net.proxy.router.counters
        assert counters.e2e_refused_header == 1 and counters.routed == 0


async def test_an_unreadable_envelope_or_a_body_next_to_it_is_refused(tmp_path: Path) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        sealed = net.client.seal([a.key()])
        garbled = await net.client.ask(sealed, e2e=bad_envelope(sealed.envelope))
        assert (garbled.error.status, garbled.error.code) == (400, "e2e_bad_envelope")
        leaked = await net.client.ask(sealed, body=b'{"plaintext": true}')
        assert (leaked.error.status, leaked.error.code) == (400, "e2e_bad_envelope")
        assert a.calls == [] and net.proxy.router.counters.e2e_refused_header == 2


async def test_the_reservation_counts_the_ciphertext_as_the_request_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        reserved: list[tuple[Any, ...]] = []
        original = net.proxy.book.reserve

        def spy(*args: Any, **kw: Any) -> Reservation:
            reserved.append(args)
            return original(*args, **kw)

        monkeypatch.setattr(net.proxy.book, "reserve", spy)
        sealed = net.client.seal([a.key()], n=2, max_tokens=128)
        assert (await net.client.ask(sealed)).end.usage == USAGE
        ((_, _, max_tokens, size, max_coefficient),) = reserved
        assert (max_tokens, size, max_coefficient) == (128, len(sealed.envelope.ciphertext), 4000)
        forwarded = a.calls[-1]
        assert forwarded.e2e is not None and read_header(forwarded.e2e).n == 2


# --- receipts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lie",
    [
        "frame_hash",
        "frame_count",
        "not_final",
        "usage_above_receipt",
        "other_signer",
        "no_receipt",
        "other_request_id",
        "other_envelope",
        "coefficient",
        "unlisted_key",
    ],
)
async def test_a_receipt_that_does_not_match_what_was_relayed_is_not_charged_and_flags_the_worker(
    tmp_path: Path, lie: str
) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        behaviour = a.behaviour
        match lie:
            case "frame_hash":
                behaviour.receipt_fields = {"frames_sha256": bytes(32)}
            case "frame_count":
                behaviour.receipt_fields = {"frame_count": 2}
            case "not_final":
                behaviour.receipt_fields = {"final": False}
            case "usage_above_receipt":
                behaviour.reported_usage = Usage(prompt_tokens=12, completion_tokens=500)
            case "other_signer":
                behaviour.signer = Ed25519PrivateKey.generate()
            case "no_receipt":
                behaviour.receipt = False
            case "other_request_id":
                behaviour.receipt_fields = {"hop_request_id": 987_654}
            case "other_envelope":
                behaviour.receipt_fields = {"envelope_sha256": bytes(32)}
            case "coefficient":
                behaviour.receipt_fields = {"coefficient": 1}
            case "unlisted_key":
                behaviour.receipt_fields = {"key_id": b"elsewhere"[:8]}
        answer = await net.client.ask(net.client.seal([a.key()]))
        error = answer.error
        assert (error.status, error.code) == (502, "upstream_error")
        assert "receipt does not match" in error.message and "nothing was charged" in error.message
        assert net.charged_nano() == 0
        assert net.proxy.book.reserved_tokens(net.client.client_id) == 0  # released
        assert net.proxy.router.counters.receipt_mismatches == 1
        stats = net.proxy.stats()
        (entry,) = stats["workers"]
        assert entry["receipt_mismatches"] == 1 and entry["flagged"] is True
        assert stats["e2e"]["receipt_mismatches"] == {a.worker_id: 1}
        assert stats["routing"]["receipt_mismatches"] == 1
        metrics = net.proxy.prometheus()
        assert "cocoon_proxy_receipt_mismatches_total 1" in metrics
        assert f'cocoon_proxy_worker_receipt_mismatches_total{{worker="{a.worker_id}"}} 1' in metrics


async def test_a_valid_receipt_is_charged_exactly_what_it_signs_and_shows_in_the_stats(
    tmp_path: Path,
) -> None:
    a = FakeE2EWorker("a", coefficient=1500)
    async with e2e_net(tmp_path, [a]) as net:
        answer = await net.client.ask(net.client.seal([a.key()]))
        end = answer.end
        assert end.usage == USAGE and end.cost == cost_of(net, USAGE, 1500)
        assert net.charged_nano() == cost_of(net, USAGE, 1500)
        assert net.proxy.stats()["workers"][0]["flagged"] is False
        async with TestClient(TestServer(make_stats_app(net.proxy))) as http:
            stats = await (await http.get("/jsonstats")).json()
            assert stats["routing"]["e2e_routed"] == 1
            assert stats["workers"][0]["e2e_key_ids"] == [a.key()[0].hex()]
            response = await http.get("/metrics")
            assert response.status == 200 and response.content_type == "text/plain"
            text = await response.text()
        assert 'cocoon_proxy_requests_total{outcome="succeeded"} 1' in text
        assert 'cocoon_proxy_e2e_requests_total{outcome="routed"} 1' in text
        assert f"cocoon_proxy_charged_nanoton_total {cost_of(net, USAGE, 1500)}" in text
        assert "cocoon_proxy_receipt_mismatches_total 0" in text


async def test_a_failure_after_the_first_frame_is_charged_only_as_far_as_its_partial_receipt_signs(
    tmp_path: Path,
) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        a.behaviour.fail_after_first_frame = True
        answer = await net.client.ask(net.client.seal([a.key()]))
        error = answer.error
        assert (error.status, error.code) == (502, "upstream_error")
        assert error.usage == USAGE and error.receipt is not None  # relayed for the client to check
        assert [kind for kind, _ in answer.opened] == [FrameType.HEAD, FrameType.DATA, FrameType.ERROR]
        assert net.charged_nano() == cost_of(net, USAGE)
        assert net.proxy.router.counters.receipt_mismatches == 0

        a.behaviour.receipt_fields = {"completion_tokens": 1}  # signs less than it reports
        second = await net.client.ask(net.client.seal([a.key()]))
        assert second.error.usage is None  # nothing charged, nothing claimed
        assert net.charged_nano() == cost_of(net, USAGE)
        assert net.proxy.router.counters.receipt_mismatches == 1
        assert net.proxy.workers.receipt_mismatches == {a.worker_id: 1}


async def test_the_head_keeps_the_workers_nonce_and_chunks_are_the_frames(tmp_path: Path) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        sealed = net.client.seal([a.key()])
        answer = await net.client.ask(sealed)
        head = answer.parts[0]
        assert isinstance(head, AnswerHead) and len(head.e2e_nonce) == 32
        assert ("x-cocoon-worker", a.worker_id) in head.headers
        chunks = [p.data for p in answer.parts if isinstance(p, AnswerChunk)]
        assert len(chunks) == len(answer.opened) == 3
        assert json.loads(answer.opened[-2][1][len(ANSWER) :]) == [
            {"role": "user", "content": "secret prompt"}
        ]


async def test_a_head_says_how_many_of_the_envelopes_keys_no_worker_holds(tmp_path: Path) -> None:
    """Sealed to a worker that is here and a key nobody here holds (a restarted or departed worker's):
    answered, and the head tells the client its candidates are stale; no such header otherwise."""
    a = FakeE2EWorker("a")
    gone = HpkeKeyPair.generate(os.urandom, int(time.time()) + 3600)
    async with e2e_net(tmp_path, [a]) as net:
        answer = await net.client.ask(net.client.seal([a.key(), (gone.key_id, gone.public_key)]))
        head = answer.parts[0]
        assert isinstance(head, AnswerHead) and answer.end.usage == USAGE
        assert (E2E_STALE_KEYS, "1") in head.headers
        fresh = await net.client.ask(net.client.seal([a.key()]))
        head = fresh.parts[0]
        assert isinstance(head, AnswerHead)
        assert all(name != E2E_STALE_KEYS for name, _ in head.headers)


# --- workers' certificates and keys -----------------------------------------------------------------


async def test_a_reissued_certificate_is_verified_and_the_previous_key_stays_routable(tmp_path: Path) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        first = a.key()
        old = net.client.seal([first])  # sealed before the re-issue
        a.identity.issue(time.time())
        second = a.key()
        assert second != first
        await a.send_state(a.state())
        await wait_until(lambda: net.link(a).e2e_key_ids == (second[0], first[0]))
        link = net.link(a)
        assert link.certificate is not None
        assert link.certificate.der == a.identity.certificate.der
        assert (await net.client.ask(old)).end.usage == USAGE  # the previous key is still routed to
        assert (await net.client.ask(net.client.seal([second]))).end.usage == USAGE
        a.identity.issue(time.time())
        await a.send_state(a.state())
        await wait_until(lambda: net.link(a).e2e_key_ids == (a.key()[0], second[0]))
        answer = await net.client.ask(net.client.seal([first]))  # two keys ago: no longer listed
        assert answer.error.code == E2E_REROUTE


@pytest.mark.parametrize("why", ["other_key", "no_quote", "other_model", "garbage"])
async def test_a_certificate_that_does_not_verify_is_refused_and_the_one_before_kept(
    tmp_path: Path, why: str
) -> None:
    a = FakeE2EWorker("a")
    async with e2e_net(tmp_path, [a]) as net:
        before = net.link(a).certificate
        keys = net.link(a).e2e_key_ids
        match why:
            case "other_key":  # a valid certificate, of someone else's key
                der = worker_identity(keyring=Keyring(os.urandom)).certificate.der
            case "no_quote":  # the worker policy (fake quotes) wants a quote
                der = worker_identity(keyring=Keyring(os.urandom), quoted=False).certificate.der
            case "other_model":
                assert a.identity.claims is not None
                a.identity.claims = msgspec.structs.replace(a.identity.claims, model_id="other-model")
                der = a.identity.issue(time.time()).der
            case _:
                der = b"\x30\x03not der"
        await a.send_state(a.state(certificate=der))
        await wait_until(lambda: net.link(a).certificate_refusals == 1)
        link = net.link(a)
        assert link.certificate == before and link.e2e_key_ids == keys
        assert net.proxy.workers.certificates_refused == 1
        assert link.state is not None and link.state.enabled  # still serves plaintext requests
        await a.send_state(a.state(certificate=der))  # the same again: not checked, not counted again
        await a.send_state(a.state(certificate=der, max_active=5))
        await wait_until(lambda: net.link(a).state is not None and net.link(a).state.max_active == 5)  # type: ignore[union-attr]
        assert net.link(a).certificate_refusals == 1
        assert "cocoon_proxy_worker_certificates_refused_total 1" in net.proxy.prometheus()


async def test_a_worker_without_an_e2e_key_is_no_candidate_and_gets_no_sealed_request(
    tmp_path: Path,
) -> None:
    a, plain = FakeE2EWorker("a"), FakeE2EWorker("plain", e2e=False)
    async with e2e_net(tmp_path, [a, plain]) as net:
        assert net.link(plain).e2e_key_ids == ()
        assert net.link(plain).certificate is not None  # verified, but it publishes no key
        listed = await net.client.conn.query(E2ECandidates(MODEL, 4000, 8))
        assert isinstance(listed, E2ECandidateList)
        assert [c.worker_id for c in listed.candidates] == [a.worker_id]


# --- candidates -------------------------------------------------------------------------------------


async def test_candidates_are_filtered_ranked_and_known_certificates_not_resent(tmp_path: Path) -> None:
    best = FakeE2EWorker("best", max_active=8)
    good = FakeE2EWorker("good", max_active=4)
    flaky = FakeE2EWorker("flaky", max_active=4)
    pricey = FakeE2EWorker("pricey", coefficient=9000)
    other_model = FakeE2EWorker("other", model="other-model")
    embeds = FakeE2EWorker("embeds", endpoints=("/v1/embeddings",))
    async with e2e_net(tmp_path, [best, good, flaky, pricey, other_model, embeds]) as net:
        net.link(flaky).success_rate = 0.5
        query = E2ECandidates(MODEL, 4000, 8, CHAT)
        listed = await net.client.conn.query(query)
        assert isinstance(listed, E2ECandidateList)
        assert [c.worker_id for c in listed.candidates] == [best.worker_id, good.worker_id, flaky.worker_id]
        first = listed.candidates[0]
        assert first.certificate == best.identity.certificate.der
        assert first.certificate_sha256 == best.identity.certificate.fingerprint
        assert first.coefficient == 1000

        known = (best.identity.certificate.fingerprint,)
        again = await net.client.conn.query(msgspec.structs.replace(query, want=2, known=known))
        assert isinstance(again, E2ECandidateList)
        assert [c.worker_id for c in again.candidates] == [best.worker_id, good.worker_id]
        assert again.candidates[0].certificate == b""
        assert again.candidates[0].certificate_sha256 == known[0]
        assert again.candidates[1].certificate == good.identity.certificate.der

        embedding = await net.client.conn.query(E2ECandidates(MODEL, 4000, 8, "/v1/embeddings"))
        assert isinstance(embedding, E2ECandidateList)
        assert [c.worker_id for c in embedding.candidates] == [embeds.worker_id]
        pricier = await net.client.conn.query(msgspec.structs.replace(query, max_coefficient=9000))
        assert isinstance(pricier, E2ECandidateList)
        assert pricey.worker_id in [c.worker_id for c in pricier.candidates]
        assert other_model.worker_id not in [c.worker_id for c in pricier.candidates]
        await best.send_state(best.state(enabled=False))
        await wait_until(lambda: not net.link(best).state.enabled)  # type: ignore[union-attr]
        listed = await net.client.conn.query(query)
        assert isinstance(listed, E2ECandidateList)
        assert best.worker_id not in [c.worker_id for c in listed.candidates]
