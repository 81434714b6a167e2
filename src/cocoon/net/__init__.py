"""Asyncio shell: attested TLS streams, RPC connections and listeners (nothing role-specific).

Where things happen:

- byte streams: :mod:`.stream` (the ``ByteStream`` protocol, ``PlainStream`` over TCP, the in-memory
  ``MemoryStream`` pair for tests);
- mutual RA-TLS 1.3: :mod:`.tls` (``AttestedStream``; ``establish``, ``connect_attested``,
  ``accept_attested``: a peer is verified here, by its ``Policy``, right after the handshake and
  before any application byte), :mod:`.tls_context` (the OpenSSL context and verify callback),
  :mod:`.tls_pump` (pyOpenSSL over memory BIOs);
- RPC connections: :mod:`.rpc` (``RpcConnection``: the sans-IO ``cocoon.wire`` endpoint driven over a
  stream), with :mod:`.rpc_driver` (bytes and timers), :mod:`.rpc_request` (what we asked),
  :mod:`.rpc_serve` (running our handlers), :mod:`.rpc_stream` (``AnswerStream``, ``Responder``);
- listeners: :mod:`.listener` (accept, attest each connection within a timeout, run a handler);
- proxy links: :mod:`.proxy_links` (one re-opened connection per proxy address, for workers and
  clients);
- DCAP collateral over the network: :mod:`.collateral` (``PccsFetcher``, ``ensure_collateral``,
  ``verify_fetching``);
- peer addresses as configs write them: :mod:`.address` (``parse_host_port``, ``is_loopback_ip``).

A node's keys, identity, policy and certificate refresh are in :mod:`cocoon.node`, above this layer.
"""
