"""The network configuration the local chain runs with (committed BoCs in ``netconfig_bocs/``)."""

from __future__ import annotations

from importlib import resources

from cocoon.ton.cells import Cell, cell_from_boc


def default_config(*, full: bool = False) -> Cell:
    """The network config the local chain runs with (global version 12; see netconfig_bocs/SOURCE.txt).

    The slim config (params 0-31) is the default: it is all transactions and getters read, and TVM
    parses the config for every get-method, which is ten times faster with it.
    """
    name = "sandbox-default.boc" if full else "sandbox-slim.boc"
    boc = resources.files("cocoon.chainsvc.local").joinpath("netconfig_bocs", name).read_bytes()
    return cell_from_boc(boc)
