"""The public COCOON network's contract layouts (the reference implementation's), as pure code.

Our own contracts (:mod:`cocoon.ton.data`, :mod:`cocoon.ton.params`) follow the same design but
accept only params struct version 3; the public root has moved on (version 4 in April 2026, readers
must handle up to 5). Modules:

- ``params``           the versioned params cell (``struct_version`` 0..5) with code masks;
- ``root``             the root's data: hashes, registered proxies, v4 key manager, v5 verified keys;
- ``client_contract``  client contract data, state-init, address; parsing its state;
- ``proxy_contract``   proxy contract address (to check a proxy's handshake) and its state;
- ``client_messages``  owner messages to the client contract (register, top up, secret hash, ...);
- ``opcodes``          the reference opcodes and the message values its client attaches.
"""

from cocoon.ton.reference.client_contract import (
    RefClientState,
    client_contract_address,
    client_init_data,
    client_state_init,
    parse_client_state,
)
from cocoon.ton.reference.params import MAX_STRUCT_VERSION, RefParams
from cocoon.ton.reference.root import RefRootState, parse_reference_root

__all__ = [
    "MAX_STRUCT_VERSION",
    "RefClientState",
    "RefParams",
    "RefRootState",
    "client_contract_address",
    "client_init_data",
    "client_state_init",
    "parse_client_state",
    "parse_reference_root",
]
