"""The network configuration the local chain runs with (committed BoCs; see ``netconfig/SOURCE.txt``)."""

from __future__ import annotations

from importlib import resources

from cocoon.ton.cells import Cell, cell_from_boc


def default_config(*, full: bool = False) -> Cell:
    """The network config the local chain runs with (global version 12; see netconfig/SOURCE.txt).

    The slim config (params 0-31) is the default: it is all transactions and getters read, and TVM
    parses the config for every get-method, which is ten times faster with it.
    """
    name = "sandbox-default.boc" if full else "sandbox-slim.boc"
    return cell_from_boc(resources.files("cocoon.ton").joinpath("netconfig", name).read_bytes())
