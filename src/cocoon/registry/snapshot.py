"""``RegistrySnapshot``: what the root contract says at one version, parsed from its data cell.

Pure: no chain access here (see :mod:`cocoon.registry.reader`). Runners keep the latest snapshot and
replace it when the root's ``version`` changes: prices and multipliers price requests
(:class:`~cocoon.payments.params.NetworkParams`), the codes in ``chain_params`` give contract addresses,
the hash sets drive attestation allowlists, ``proxies`` is where clients and workers connect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cocoon.errors import ChainDataError
from cocoon.payments.params import Nano, NetworkParams
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.data import ProxyEndpoints, RootData
from cocoon.ton.params import Params


def model_hash(model: str) -> int:
    """The root's hash of a model: sha256 of the full model string (spec/contracts.md), as uint256."""
    return int.from_bytes(hashlib.sha256(model.encode()).digest(), "big")


def image_hash_int(image_hash: bytes) -> int:
    """A 32-byte image hash (attestation) as the uint256 key the root stores."""
    if len(image_hash) != 32:
        raise ValueError(f"an image hash is 32 bytes, got {len(image_hash)}")
    return int.from_bytes(image_hash, "big")


def network_params(params: Params) -> NetworkParams:
    """The chain's params cell -> the pricing parameters every money computation uses."""
    return NetworkParams(
        price_per_token=Nano(params.price_per_token),
        worker_fee_per_token=Nano(params.worker_fee_per_token),
        prompt_multiplier=params.prompt_mult,
        cached_multiplier=params.cached_mult,
        completion_multiplier=params.completion_mult,
        reasoning_multiplier=params.reasoning_mult,
        proxy_delay_before_close=params.proxy_delay_before_close,
        client_delay_before_close=params.client_delay_before_close,
        min_proxy_stake=Nano(params.min_proxy_stake),
        min_client_stake=Nano(params.min_client_stake),
        params_version=params.params_version,
    )


@dataclass(frozen=True)
class RegistrySnapshot:
    """The root contract's state at ``version``."""

    root: Address
    owner: Address | None
    version: int
    chain_params: Params
    """The params cell as stored by the root (all three contract codes included)."""
    proxies: dict[int, ProxyEndpoints]
    """Registered proxies by their registration seqno."""
    last_proxy_seqno: int
    proxy_hashes: frozenset[int]
    worker_hashes: frozenset[int]
    model_hashes: frozenset[int]

    @classmethod
    def from_data(cls, root: Address, data: Cell) -> RegistrySnapshot:
        """Parse the root's data cell (raises ChainDataError naming what does not fit)."""
        parsed = RootData.from_cell(data)
        reg = parsed.registry
        try:
            proxies = {seqno: ProxyEndpoints.parse(text) for seqno, text in reg.registered_proxies.items()}
        except ChainDataError as exc:
            raise ChainDataError(f"root {root}: {exc}") from exc
        return cls(
            root=root,
            owner=parsed.owner,
            version=parsed.version,
            chain_params=parsed.params,
            proxies=dict(sorted(proxies.items())),
            last_proxy_seqno=reg.last_proxy_seqno,
            proxy_hashes=frozenset(reg.proxy_hashes),
            worker_hashes=frozenset(reg.worker_hashes),
            model_hashes=frozenset(reg.model_hashes),
        )

    @property
    def params(self) -> NetworkParams:
        """Prices, multipliers, delays and stakes for the pricing code."""
        return network_params(self.chain_params)

    @property
    def params_version(self) -> int:
        return self.chain_params.params_version

    def proxy_endpoints(self, role: str) -> list[str]:
        """``host:port`` of every registered proxy for ``role`` (``"worker"`` or ``"client"``)."""
        if role not in ("worker", "client"):
            raise ValueError(f"role must be 'worker' or 'client', got {role!r}")
        return [e.workers if role == "worker" else e.clients for e in self.proxies.values()]

    def worker_image_allowed(self, image_hash: bytes) -> bool:
        return image_hash_int(image_hash) in self.worker_hashes

    def proxy_image_allowed(self, image_hash: bytes) -> bool:
        return image_hash_int(image_hash) in self.proxy_hashes

    def model_allowed(self, model: str) -> bool:
        return model_hash(model) in self.model_hashes
