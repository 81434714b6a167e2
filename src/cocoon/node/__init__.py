"""What every node does at start, whatever its role (DESIGN.md, layers: below the services).

- ``keys``      where the node key (RA-TLS identity, proxy signatures) and the wallet key live;
- ``identity``  quote provider, RA-TLS identity with signed claims, hourly certificate refresh;
- ``policy``    the attestation policy a node applies to its peers, from its config;
- ``chain``     :func:`~cocoon.node.chain.open_node_chain`: chain adapter, root registry, funded node
  wallet, written once for every role (:class:`~cocoon.node.chain.NodeChain`);
- ``root``      following the root: proxy lists, allowed proxy images, version changes;
- ``public_root`` a root of ours or of the public COCOON network (told by its layout); a client's
  start on the latter (:class:`~cocoon.node.public_root.PublicNodeChain`);
- ``http``      the node's HTTP server;
- ``running``   :class:`~cocoon.node.running.RunningNode`, what a role's builder yields.

Each role is composed in one place on top of this: :func:`cocoon.worker.build.build_worker`,
:func:`cocoon.proxy.build.build_proxy`, :func:`cocoon.client.build.build_client`.
"""
