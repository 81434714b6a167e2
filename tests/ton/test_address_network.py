"""Addresses on mainnet and testnet: printed with the network's flag, refused when flagged for the
other network (the raw form carries no flag and passes on both)."""

from __future__ import annotations

import pytest

from cocoon.errors import ChainDataError, ConfigError
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.ton.address import Address, is_test_only, parse_on, show, wrong_network

ADDRESS = Address(0, bytes(range(32)))
MAINNET = ADDRESS.friendly()
TESTNET = ADDRESS.friendly(testnet=True)


def test_addresses_print_with_the_testnet_flag_only_on_testnet() -> None:
    assert is_test_only(show(ADDRESS, testnet=True)) and not is_test_only(show(ADDRESS, testnet=False))
    assert show(ADDRESS, testnet=True, bounceable=False) == ADDRESS.friendly(bounceable=False, testnet=True)


def test_each_network_accepts_its_own_form_and_the_raw_one() -> None:
    assert parse_on(TESTNET, testnet=True) == parse_on(ADDRESS.raw, testnet=True) == ADDRESS
    assert parse_on(MAINNET, testnet=False) == parse_on(ADDRESS.raw, testnet=False) == ADDRESS


def test_a_mainnet_address_is_refused_on_testnet_and_the_other_way_round() -> None:
    with pytest.raises(ChainDataError, match="is a mainnet address but the chain is a testnet") as err:
        parse_on(MAINNET, testnet=True, what="--owner")
    assert TESTNET in str(err.value) and str(err.value).startswith("--owner")  # says what to give instead
    with pytest.raises(ChainDataError, match="is a testnet address but the chain is mainnet"):
        parse_on(TESTNET, testnet=False)
    assert wrong_network("not an address", testnet=True) is None  # parsing reports that one


@pytest.mark.parametrize("kind", [WorkerConfig, ClientConfig, ProxyConfig])
def test_a_node_config_refuses_addresses_of_the_other_network(kind: type[WorkerConfig]) -> None:
    with pytest.raises(ConfigError, match=r"root_address .* is a mainnet address"):
        kind(testnet=True, root_address=MAINNET)
    with pytest.raises(ConfigError, match=r"owner_address .* is a testnet address"):
        kind(owner_address=TESTNET)
    assert kind(testnet=True, root_address=TESTNET, owner_address=ADDRESS.raw).testnet


def test_chain_settings_are_validated_with_the_config() -> None:
    with pytest.raises(ConfigError, match="needs ton_config"):
        WorkerConfig(chain="lite")
    with pytest.raises(ConfigError, match="not an http"):
        ProxyConfig(chain="toncenter", chain_url="toncenter.com")
    with pytest.raises(ConfigError, match="chain_poll_interval_s must be more than 0"):
        ProxyConfig(chain_poll_interval_s=0)
    with pytest.raises(ConfigError, match="wallet_poll_interval_s"):
        ClientConfig(wallet_poll_interval_s=-1)
    assert ClientConfig(chain="lite", ton_config="global.config.json").ton_config
