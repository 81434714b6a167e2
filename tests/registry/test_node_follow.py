"""Workers and clients follow the root: the proxy images it allows apply to their next handshake."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.errors import PolicyError
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.node.root import all_of, proxy_images_follower


@dataclass
class Snapshot:
    proxy_hashes: frozenset[int]


def test_proxy_images_follow_the_root() -> None:
    policy = make_policy("fake")
    cert = make_identity("", "fake").certificate
    follow = proxy_images_follower(policy)

    follow(Snapshot(frozenset({int.from_bytes(b"\x11" * 32, "big")})))  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match=f"image hash {FAKE_IMAGE_HASH.hex()} not allowed"):
        policy.verify(cert, time.time())

    follow(Snapshot(frozenset({int.from_bytes(FAKE_IMAGE_HASH, "big")})))  # type: ignore[arg-type]
    assert policy.verify(cert, time.time()).image_hash == FAKE_IMAGE_HASH

    follow(Snapshot(frozenset()))  # type: ignore[arg-type]  # an empty set allows any image
    assert policy.verify(cert, time.time()).is_attested


def test_any_policy_has_nothing_to_follow_and_callbacks_compose() -> None:
    seen: list[str] = []
    follow = all_of(proxy_images_follower(make_policy("any")), lambda s: seen.append("second"))
    follow(Snapshot(frozenset({1})))  # type: ignore[arg-type]
    assert seen == ["second"]
