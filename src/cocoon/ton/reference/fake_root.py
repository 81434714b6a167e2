"""The reference runners' fake-TON root config (``rootConfig.pseudo``, the JSON their ``--disable-ton``
test mode reads) as the root params a reference runner derives contract addresses from.

In its test mode a reference runner holds no root contract: ``RootContractConfig::load_from_tl`` fills
the params from the JSON's prices, versions and codes, and fixes the rest (struct version 1, unique id
13, a test network, close delays 600/300 s, minimum stakes 1 TON). A reference client checks the proxy
and client contract addresses of ``client.connectedToProxy`` against these params, so a proxy that
wants reference clients in their test mode must answer the addresses derived from the same config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_from_boc, contract_address
from cocoon.ton.ops import TON
from cocoon.ton.reference.client_contract import client_contract_address
from cocoon.ton.reference.params import RefParams
from cocoon.ton.reference.proxy_contract import proxy_init_data

FAKE_UNIQUE_ID = 13
FAKE_PROXY_DELAY_S = 600
FAKE_CLIENT_DELAY_S = 300


def _code(doc: Mapping[str, Any], key: str) -> Cell:
    try:
        return cell_from_boc(bytes.fromhex(str(doc[key])))
    except KeyError:
        raise ChainDataError(f"fake root config: {key!r} is missing") from None
    except ValueError as exc:
        raise ChainDataError(f"fake root config: {key!r} is not a hex BoC: {exc}") from exc


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ChainDataError(f"fake root config: {key!r} must be a non-negative integer, not {value!r}")
    return value


def fake_root_params(doc: Mapping[str, Any]) -> RefParams:
    """The root params a reference runner holds for the fake root config ``doc`` (parsed JSON)."""
    return RefParams(
        struct_version=1,
        params_version=_int(doc, "params_version"),
        unique_id=FAKE_UNIQUE_ID,
        is_test=True,
        price_per_token=_int(doc, "price_per_token"),
        worker_fee_per_token=_int(doc, "worker_fee_per_token"),
        proxy_delay_before_close=FAKE_PROXY_DELAY_S,
        client_delay_before_close=FAKE_CLIENT_DELAY_S,
        min_proxy_stake=TON,
        min_client_stake=TON,
        proxy_code=_code(doc, "proxy_sc_code"),
        worker_code=_code(doc, "worker_sc_code"),
        client_code=_code(doc, "client_sc_code"),
    )


@dataclass(frozen=True)
class FakeRoot:
    """A fake root config's params and the root address the runners name (``root_contract_address``)."""

    params: RefParams
    address: Address
    version: int

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], address: Address) -> FakeRoot:
        return cls(fake_root_params(doc), address, _int(doc, "version"))

    def proxy_contract(self, owner: Address, public_key: bytes) -> Address:
        """The proxy contract a reference runner expects for (proxy owner, proxy key)."""
        assert self.params.proxy_code is not None  # fake_root_params always sets it
        return contract_address(
            self.params.proxy_code, proxy_init_data(self.params, owner, public_key, self.address)
        )

    def client_contract(self, owner: Address, proxy_contract: Address, proxy_public_key: bytes) -> Address:
        """The client contract a reference client expects for (client owner, proxy contract, proxy key)."""
        return client_contract_address(self.params, owner, proxy_contract, proxy_public_key)
