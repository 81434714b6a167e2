"""The proxy admits workers by image hash (TLS policy) and attested model (signed statement)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from servicenet import service_net, wait_for

from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.statement import make_statement, model_hash, sign_statement, verify_statement
from cocoon.engine.fake_answer import FAKE_MODEL
from cocoon.errors import ConfigError
from cocoon.node.admission import ConfigAllowlist, RegistryAllowlist, WorkerAdmission
from cocoon.node.policy import make_policy
from cocoon.proxy.admission import state_refusal, worker_attestation_headers
from cocoon.registry.owner import local_params
from cocoon.registry.snapshot import RegistrySnapshot, image_hash_int
from cocoon.registry.snapshot import model_hash as registry_model_hash
from cocoon.ton.address import Address
from cocoon.wire.messages import WorkerState

OTHER = "ab" * 32


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


async def test_a_worker_with_a_disallowed_image_hash_is_refused_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    policy = WorkerAdmission(make_policy("fake"), ConfigAllowlist([OTHER]))
    async with service_net(tmp_path, policy) as net:
        await wait_for(lambda: net.proxy.worker_listener.refused >= 1)
        assert not net.proxy.workers.links
    expected = f"proxy/workers: peer refused: image hash {FAKE_IMAGE_HASH.hex()} not allowed"
    assert any(expected in line for line in _refusals(caplog)), _refusals(caplog)


async def test_a_worker_whose_attested_model_is_not_allowed_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    policy = WorkerAdmission(
        make_policy("fake"), ConfigAllowlist([FAKE_IMAGE_HASH.hex()], model_hashes=[OTHER])
    )
    async with service_net(tmp_path, policy) as net:
        await wait_for(lambda: net.proxy.worker_listener.refused >= 1)
        assert not net.proxy.workers.links
    assert any(f"peer refused: model {FAKE_MODEL} (hash" in line for line in _refusals(caplog))


async def test_an_allowed_worker_joins_and_its_key_and_statement_reach_the_head(tmp_path: Path) -> None:
    model_hash = hashlib.sha256(FAKE_MODEL.encode()).hexdigest()
    policy = WorkerAdmission(
        make_policy("fake"), ConfigAllowlist([FAKE_IMAGE_HASH.hex()], model_hashes=[model_hash])
    )
    async with service_net(tmp_path, policy) as net:
        await wait_for(lambda: any(link.state for link in net.proxy.workers))
        (link,) = list(net.proxy.workers)
        headers = dict(worker_attestation_headers(link.attested))
        assert headers["x-cocoon-worker-key"] == net.worker.identity.public_key.hex()
        assert link.attested is not None
        statement = verify_statement(link.attested.statement, net.worker.identity.public_key)
        assert (statement.model_id, statement.model_hash.hex()) == (FAKE_MODEL, model_hash)
        assert net.proxy.worker_listener.refused == 0


def test_image_allowlists_need_an_attesting_policy() -> None:
    with pytest.raises(ConfigError, match="set worker_policy to fake or tdx"):
        WorkerAdmission(make_policy("any"), ConfigAllowlist([OTHER]))
    with pytest.raises(ConfigError, match="allowed_model_hashes: 'xy' is not 32 bytes of hex"):
        ConfigAllowlist([], model_hashes=["xy"])


def test_a_declared_model_that_contradicts_the_statement_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    statement = sign_statement(make_statement(1, model_id="attested-model"), key)
    peer = AttestedPeer(raw, "fake", None, None, None, statement=statement)
    assert state_refusal(peer, WorkerState(True, "attested-model", 1000, 1, 0)) is None
    why = state_refusal(peer, WorkerState(True, "other-model", 1000, 1, 0))
    assert why is not None and "names 'attested-model'" in why


def test_registry_allowlist_follows_the_root_snapshots() -> None:
    params = local_params(price_per_token=20, worker_fee_per_token=19)
    root = Address(0, b"\x01" * 32)

    def snapshot(version: int, images: set[bytes], models: set[str]) -> RegistrySnapshot:
        return RegistrySnapshot(
            root=root,
            owner=None,
            version=version,
            chain_params=params,
            proxies={},
            last_proxy_seqno=0,
            proxy_hashes=frozenset(),
            worker_hashes=frozenset(image_hash_int(h) for h in images),
            model_hashes=frozenset(registry_model_hash(m) for m in models),
        )

    source = RegistryAllowlist(snapshot(1, {FAKE_IMAGE_HASH}, {FAKE_MODEL}))
    lists = source.current()
    # The root's uint256 keys become the digests the policy and the statement carry.
    assert lists.worker_image_hashes == {FAKE_IMAGE_HASH}
    assert lists.model_hashes == {model_hash(FAKE_MODEL)}
    source.update(snapshot(2, {b"\xab" * 32}, set()))
    assert source.current().worker_image_hashes == {b"\xab" * 32} and not source.current().model_hashes


def test_rtmr_sets_from_config_admit_only_the_listed_boot_chains() -> None:
    import time

    from cocoon.errors import PolicyError
    from cocoon.node.identity import make_identity

    zero = ":".join(["00" * 48] * 4)  # fake quotes measure all-zero RTMRs
    other = ":".join(["11" * 48] * 4)
    cert = make_identity("", "fake").certificate
    refused = WorkerAdmission(make_policy("fake"), ConfigAllowlist([], rtmr_sets=[other]))
    with pytest.raises(PolicyError, match="RTMR set not allowed"):
        refused.verify(cert, time.time())
    admitted = WorkerAdmission(make_policy("fake"), ConfigAllowlist([], rtmr_sets=[other, zero]))
    assert admitted.verify(cert, time.time()).is_attested
    with pytest.raises(ConfigError, match="rtmr0:rtmr1:rtmr2:rtmr3"):
        ConfigAllowlist([], rtmr_sets=["00" * 48])
    with pytest.raises(ConfigError, match="attesting worker policy"):
        WorkerAdmission(make_policy("any"), ConfigAllowlist([], rtmr_sets=[zero]))
