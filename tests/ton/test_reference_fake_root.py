"""The reference runners' fake-TON root config as root params: the contract addresses a reference client
runner derives in its test mode (vectors taken from the reference client runner's own refusal messages,
``proxy/client sc address mismatch: expected ...``, for the reference's ``config/fake-ton-config.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.reference.fake_root import FakeRoot, fake_root_params

REPO = Path(__file__).resolve().parents[2]
FAKE_TON = REPO / ".." / "shared" / "peers" / "cocoon-reference" / "config"
ROOT = Address.parse("EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ")  # the reference configs' root
PROXY_KEY = bytes.fromhex("21eb87f5535fa4e7b009628be7eb8fb2feae8579f5b6e612b68a54eaf5237f26")
CLIENT_OWNER = Address.parse("UQCdj43bBDyeJlfe6FVSpWLfsDMp4YHbmz5lca5-tNz-fx20")  # its test client's wallet
ZERO = Address.parse("0:" + "0" * 64)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    path = FAKE_TON / "fake-ton-config.json"
    if not path.is_file():
        pytest.skip(f"the reference peer's fake TON config is not at {path}")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_the_params_are_the_test_modes(doc: dict[str, Any]) -> None:
    p = fake_root_params(doc)
    assert (p.struct_version, p.unique_id, p.is_test, p.params_version) == (1, 13, True, 1)
    assert (p.price_per_token, p.worker_fee_per_token) == (2, 1)
    assert (p.proxy_delay_before_close, p.client_delay_before_close) == (600, 300)


def test_contract_addresses_are_the_ones_the_reference_client_derives(doc: dict[str, Any]) -> None:
    root = FakeRoot.from_json(doc, ROOT)
    assert root.version == 3
    proxy = root.proxy_contract(ZERO, PROXY_KEY)
    assert proxy.raw == "0:8738b9613b23005eb40028114692b355afd4032a360f5921fe131f64324e66bb"
    client = root.client_contract(CLIENT_OWNER, proxy, PROXY_KEY)
    assert client.raw == "0:66058028dd0bbeea15580f29a2b7f50d5764d505bcc4233a661fca21fcdcf040"
    assert root.proxy_contract(ZERO, bytes(32)) != proxy  # the key is part of the data


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"price_per_token": -1}, "price_per_token"),
        ({"params_version": "1"}, "params_version"),
        ({"client_sc_code": "zz"}, "client_sc_code"),
        ({"proxy_sc_code": None}, "proxy_sc_code"),
    ],
)
def test_bad_configs_say_which_field(doc: dict[str, Any], change: dict[str, Any], match: str) -> None:
    bad = {k: v for k, v in (doc | change).items() if v is not None}
    with pytest.raises(ChainDataError, match=match):
        fake_root_params(bad)
