"""COCOON in Python: confidential, decentralized AI inference paid in TON.

Layers (imports point down only), see DESIGN.md; ``tests/test_layers.py`` checks them:

    cli/                                              what people touch
    client/ proxy/ worker/ engine/ localnet/          services (asyncio)
    node/ registry/ wallet/ chainsvc/                 what every node needs
    net/  clock.py                                    asyncio shell
    wire/ attestation/ payments/ ton/ planner/ api/   pure core: no asyncio, no sockets, no clock reads
    errors.py config.py roles.py
"""

__version__ = "0.1.0"
