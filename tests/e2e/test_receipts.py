"""Signed receipts end to end on real processes (`cocoon up --engine fake`).

The worker signs each answer with its attested key; the client verifies the receipt against the key
the proxy forwarded, exposes it (body, final usage chunk, GET /v1/receipts/{id}) and, with
``receipts_dir``, saves it next to the exact bytes it covers. `cocoon receipt verify` accepts those
files and refuses them once one byte of the response is changed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from netproc import RunningNet, get_json, start_net, stop_net

from cocoon.attestation.receipt import SignedReceipt, check_hashes
from cocoon.cli.main import cli
from cocoon.errors import ReceiptError

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "prove what you answered"}]


@pytest.fixture(scope="module")
def receipts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("receipts")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, receipts_dir: Path) -> Iterator[RunningNet]:
    # Plaintext (v1) receipts: they cover the bytes themselves, which `cocoon receipt verify` checks
    # offline. End-to-end receipts (v2) cover sealed frames: tests/e2e/test_e2e_canary.py.
    running = start_net(
        tmp_path_factory.mktemp("net"),
        workers=1,
        env={"COCOON_RECEIPTS_DIR": str(receipts_dir), "COCOON_E2E": "off"},
    )
    yield running
    assert stop_net(running) == 0, running.output()


def _post(net: RunningNet, body: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(
        f"{net.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return {k.lower(): v for k, v in resp.headers.items()}, resp.read()


def _verify_cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["receipt", "verify", *map(str, args)])
    return result.exit_code, result.output


def test_a_whole_answer_carries_a_receipt_that_verifies_and_one_changed_byte_fails(
    net: RunningNet, receipts_dir: Path
) -> None:
    headers, raw = _post(net, {"model": net.model, "messages": MESSAGES, "max_tokens": 8})
    answer = json.loads(raw)
    request_id = headers["x-cocoon-request-id"]
    receipt = answer["receipt"]
    # The body's receipt is the stored one, signed by the attested worker key the proxy forwarded.
    assert get_json(f"{net.base_url}/receipts/{request_id}") == receipt
    assert receipt["signer"] == headers["x-cocoon-worker-key"]
    assert receipt["signer"].startswith(net.worker_stats(1)["worker_id"])
    assert (receipt["request_id"], receipt["model_id"]) == (request_id, net.model)
    assert (receipt["prompt_tokens"], receipt["completion_tokens"]) == (
        answer["usage"]["prompt_tokens"],
        answer["usage"]["completion_tokens"],
    )

    saved = receipts_dir / f"{request_id}.json"
    response = saved.with_suffix(".response").read_bytes()
    signed = SignedReceipt.from_json(json.loads(saved.read_text()))
    signed.verify(bytes.fromhex(headers["x-cocoon-worker-key"]))
    check_hashes(signed.receipt, request=saved.with_suffix(".request").read_bytes(), response=response)
    # The signed bytes are the engine's answer; the app got them plus the cost fields and the receipt.
    assert json.loads(response)["choices"] == answer["choices"]

    code, out = _verify_cli(
        saved,
        "--request",
        saved.with_suffix(".request"),
        "--response",
        saved.with_suffix(".response"),
        "--signer",
        headers["x-cocoon-worker-key"],
    )
    assert code == 0, out
    assert out.startswith(f"OK: request {request_id} on {net.model}")

    changed = bytearray(response)
    changed[len(changed) // 2] ^= 0x01
    tampered = saved.with_suffix(".tampered")
    tampered.write_bytes(bytes(changed))
    with pytest.raises(ReceiptError, match="response bytes do not match"):
        check_hashes(signed.receipt, response=bytes(changed))
    code, out = _verify_cli(saved, "--response", tampered)
    assert code == 1
    assert out.startswith("FAIL: the response bytes do not match")


def test_a_stream_ends_with_the_receipt_in_its_usage_chunk(net: RunningNet, receipts_dir: Path) -> None:
    body = {
        "model": net.model,
        "messages": MESSAGES,
        "max_tokens": 6,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers, raw = _post(net, body)
    request_id = headers["x-cocoon-request-id"]
    events = [line.removeprefix(b"data: ") for line in raw.split(b"\n\n") if line.startswith(b"data: {")]
    final = json.loads(events[-1])
    assert final["choices"] == [] and final["usage"]["total_cost"] > 0
    receipt = final["receipt"]
    assert get_json(f"{net.base_url}/receipts/{request_id}") == receipt
    # For streams the signed bytes are the engine's SSE stream as relayed, [DONE] included.
    response = (receipts_dir / f"{request_id}.response").read_bytes()
    assert response.rstrip().endswith(b"data: [DONE]")
    check_hashes(SignedReceipt.from_json(receipt).verify(), response=response)


def test_receipts_are_counted_and_unknown_ids_are_404(net: RunningNet) -> None:
    _post(net, {"model": net.model, "messages": MESSAGES, "max_tokens": 3})
    counters = get_json(net.base_url.removesuffix("/v1") + "/jsonstats")["client"]["receipts"]
    assert counters["verified"] >= 1 and counters["failed"] == 0 and counters["missing"] == 0
    request = urllib.request.Request(f"{net.base_url}/receipts/00000000000000ff")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 404
    assert json.loads(caught.value.read())["error"]["code"] == "receipt_not_found"


@pytest.fixture(scope="module")
def sealed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sealed-receipts")


@pytest.fixture(scope="module")
def sealed_net(tmp_path_factory: pytest.TempPathFactory, sealed_dir: Path) -> Iterator[RunningNet]:
    """`cocoon up` as it runs by default: end-to-end encryption required."""
    running = start_net(
        tmp_path_factory.mktemp("sealed-net"), workers=1, env={"COCOON_RECEIPTS_DIR": str(sealed_dir)}
    )
    yield running
    assert stop_net(running) == 0, running.output()


@pytest.mark.parametrize("stream", [False, True])
def test_an_end_to_end_receipt_is_proved_offline_from_the_kept_ciphertext_and_secret(
    sealed_net: RunningNet, sealed_dir: Path, stream: bool
) -> None:
    body: dict[str, Any] = {"model": sealed_net.model, "messages": MESSAGES, "max_tokens": 5}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    headers, _raw = _post(sealed_net, body)
    assert headers["x-cocoon-e2e"] == "1"
    saved = sealed_dir / f"{headers['x-cocoon-request-id']}.json"
    assert json.loads(saved.read_text())["version"] == 2
    files = {kind: saved.with_suffix(f".{kind}") for kind in ("request", "response", "e2e")}
    assert json.loads(files["request"].read_bytes())["messages"] == MESSAGES
    args = ["--e2e", files["e2e"], "--request", files["request"], "--response", files["response"]]
    code, out = _verify_cli(saved, *args, "--signer", headers["x-cocoon-worker-key"])
    assert code == 0, out
    assert "the envelope and frames it signs open with the kept secret" in out
    assert "request and response bytes match" in out

    changed = bytearray(files["response"].read_bytes())
    changed[len(changed) // 2] ^= 0x01
    tampered = saved.with_suffix(".tampered")
    tampered.write_bytes(bytes(changed))
    code, out = _verify_cli(saved, "--e2e", files["e2e"], "--response", tampered)
    assert code == 1 and out.startswith("FAIL: the response bytes are not what the signed frames open to")
    # Without the ciphertext, bytes cannot be checked against a receipt that signs only ciphertext.
    code, out = _verify_cli(saved, "--response", files["response"])
    assert code == 1 and "pass --e2e" in out
