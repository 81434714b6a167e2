"""The root contract as runners see it: read it, follow it, and (for its owner) change it.

- ``snapshot`` :class:`RegistrySnapshot` (pure: parsed from the root's data cell), ``model_hash``,
  ``network_params`` (chain params -> :class:`~cocoon.payments.params.NetworkParams`);
- ``reader``   :func:`read_registry`, :func:`wait_for_version`, :class:`RegistryWatcher` (callback on
  every version change);
- ``owner``    :class:`RootOwner` (deploy, then owner operations through a node wallet) and the
  operation builders ``allow_worker_image``, ``allow_proxy_image``, ``allow_model``,
  ``register_proxy``, ``unregister_proxy``, ``set_fees``, ``revoke_worker_image``,
  ``revoke_proxy_image``, ``revoke_model``, ``update_proxy``, ``change_params``,
  ``change_owner``; ``local_params`` / ``root_address`` for the local network.

How a node follows the root at run time (proxy lists, allowed images) is :mod:`cocoon.node.root`.
"""

from cocoon.registry.owner import (
    RootOwner,
    allow_model,
    allow_proxy_image,
    allow_worker_image,
    change_owner,
    change_params,
    local_params,
    register_proxy,
    reset_registry,
    revoke_model,
    revoke_proxy_image,
    revoke_worker_image,
    root_address,
    set_fees,
    unregister_proxy,
    update_proxy,
    upgrade_contracts,
    upgrade_root,
)
from cocoon.registry.reader import RegistryWatcher, read_registry, wait_for_version
from cocoon.registry.snapshot import RegistrySnapshot, model_hash, network_params

__all__ = [
    "RegistrySnapshot",
    "RegistryWatcher",
    "RootOwner",
    "allow_model",
    "allow_proxy_image",
    "allow_worker_image",
    "change_owner",
    "change_params",
    "local_params",
    "model_hash",
    "network_params",
    "read_registry",
    "register_proxy",
    "reset_registry",
    "revoke_model",
    "revoke_proxy_image",
    "revoke_worker_image",
    "root_address",
    "set_fees",
    "unregister_proxy",
    "update_proxy",
    "upgrade_contracts",
    "upgrade_root",
    "wait_for_version",
]
