"""COCOON in Python: confidential, decentralized AI inference paid in TON.

Layers (imports point down only), see DESIGN.md:

    cli/ dashboard/                              what people touch
    client/ proxy/ worker/ engine/ localnet/     services (asyncio)
    net/                                         attested TLS streams, RPC connections
    wire/ attestation/ payments/ ton/ planner/   pure core: no asyncio, no sockets, no clock reads
"""

__version__ = "0.1.0"
