"""Compiled code of our FunC contracts (``contracts/*.fc``), shipped with the package.

``make contracts`` (Node, ``@ton-community/func-js``) rebuilds ``artifacts/<name>.boc`` and
``artifacts/code_hashes.json``; running the project only reads these files, so it never needs Node.

- :func:`contract_code` -- the code cell of a contract (``root``, ``proxy``, ``worker``, ``client``,
  ``wallet``);
- :func:`code_hash` -- its representation hash as recorded at build time (checked against the BoC).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Final

from pytoniq_core import Cell

from cocoon.errors import ChainDataError

CONTRACTS: Final = ("root", "proxy", "worker", "client", "wallet")
"""Names of the contracts built from ``contracts/<name>.fc``."""

_PACKAGE = "cocoon.ton"
_DIR = "artifacts"


def _read(filename: str) -> bytes:
    try:
        return resources.files(_PACKAGE).joinpath(_DIR, filename).read_bytes()
    except OSError as exc:
        raise ChainDataError(
            f"contract artifact {filename} is missing from the package; run `make contracts` to rebuild it"
        ) from exc


def _check_name(name: str) -> None:
    if name not in CONTRACTS:
        raise ChainDataError(f"unknown contract {name!r}; expected one of {', '.join(CONTRACTS)}")


@functools.cache
def _recorded_hashes() -> dict[str, Any]:
    hashes: dict[str, Any] = json.loads(_read("code_hashes.json"))
    return hashes


@functools.cache
def contract_code(name: str) -> Any:
    """The compiled code cell of contract ``name`` (a pytoniq-core ``Cell``)."""
    _check_name(name)
    try:
        cell = Cell.one_from_boc(_read(f"{name}.boc"))
    except ChainDataError:
        raise
    except Exception as exc:
        raise ChainDataError(f"artifact {name}.boc is not a valid BoC ({exc}); run `make contracts`") from exc
    if cell.hash.hex() != _recorded_hashes().get(name):
        raise ChainDataError(
            f"artifact {name}.boc does not match code_hashes.json; run `make contracts` to rebuild both"
        )
    return cell


def code_hash(name: str) -> bytes:
    """Representation hash of contract ``name``'s code (32 bytes)."""
    digest: bytes = contract_code(name).hash
    return digest
