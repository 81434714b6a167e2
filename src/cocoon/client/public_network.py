"""A client daemon on a root of the public COCOON network (``root_address`` of the reference's layout).

On such a root every proxy speaks COCOON's own client protocol, so the client's configuration is
adjusted once at start (:func:`on_public_root`):

- ``proxies`` (proxies speaking our protocol) does not apply: there are none on that network. A
  non-default list is named in a warning and dropped;
- ``cocoon_proxies``, when empty, becomes the client endpoints of the proxies registered in the root
  (when set, it is kept: a user may pin one proxy). A root listing none is a ConfigError;
- ``e2e = "required"`` is refused: COCOON proxies carry requests in plaintext only;
- with ``cocoon_proxy_policy`` 'fake' or 'tdx' and no ``allowed_proxy_image_hashes`` of the config's,
  the proxy images the root allows are required (as with a root of ours).

Long auth derives client contracts from the root's params with the reference's layout
(`cocoon.client.cocoon_register.reference_contracts`) and answers are priced at the root's price.
The root is read once at start: proxies registered later need a restart.
"""

from __future__ import annotations

import logging

import msgspec

from cocoon.errors import ConfigError
from cocoon.node.public_root import PublicNodeChain, describe
from cocoon.roles import ClientConfig

log = logging.getLogger(__name__)

DEFAULT_PROXIES = ClientConfig().proxies
"""The ``proxies`` a config has when it does not set the key (not worth a warning)."""


def on_public_root(config: ClientConfig, node: PublicNodeChain) -> ClientConfig:
    """``config`` for the public root ``node`` read at start (see the module docstring)."""
    state, root = node.state, node.root.raw
    log.info("root %s is a public COCOON network root: %s", root, describe(state))
    if config.e2e == "required":
        raise ConfigError(
            f'e2e = "required", but root {root} is a public COCOON network root, whose proxies '
            'carry requests in plaintext only; set e2e = "preferred" or "off" to use it'
        )
    if config.proxies and config.proxies != DEFAULT_PROXIES:
        log.warning(
            "proxies = %s ignored: they would speak our protocol, and root %s is a public COCOON "
            "network root whose proxies speak COCOON's; remove the key (or set cocoon_proxies)",
            config.proxies,
            root,
        )
    for seqno, why in state.skipped_proxies:
        log.warning("root %s: registered proxy %d skipped (as the reference does): %s", root, seqno, why)
    cocoon = list(config.cocoon_proxies)
    if cocoon:
        log.info("COCOON proxies from cocoon_proxies (the root's are not used): %s", ", ".join(cocoon))
    else:
        cocoon = list(dict.fromkeys(p.endpoints.clients for p in state.proxies))
        if not cocoon:
            raise ConfigError(
                f"root {root} is a public COCOON network root that lists no usable proxy; set "
                "cocoon_proxies to a proxy's client endpoint (host:port) or try again later"
            )
        log.info("COCOON proxies from root %s: %s", root, ", ".join(cocoon))
    images = list(config.allowed_proxy_image_hashes)
    if not images and config.cocoon_proxy_policy != "any":
        images = sorted(h.hex() for h in state.proxy_hashes)
    if config.cocoon_test != state.params.is_test:
        log.warning(
            "cocoon_test = %s, but root %s is a %s network; its proxies may refuse the handshake",
            str(config.cocoon_test).lower(),
            root,
            "test" if state.params.is_test else "production",
        )
    return msgspec.structs.replace(
        config, proxies=[], cocoon_proxies=cocoon, allowed_proxy_image_hashes=images
    )
