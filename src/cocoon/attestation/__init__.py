"""Attestation: RA-TLS certificates, TDX quotes, DCAP, quote providers and policies (pure core).

Where things happen (every function takes ``now``; nothing here opens a socket or reads the clock):

- parse a TDX quote: :mod:`.quote` (``parse_quote``; bounds-checked reads in :mod:`.quote_reader`),
  :mod:`.quote_describe` (human-readable fields), :mod:`.measurements` (TD registers, image hash);
- verify a quote's cryptography offline (Intel root pinned, no collateral): :mod:`.quote_verify`;
- verify DCAP with collateral (``DcapVerifier``, verdicts cached until the collateral's
  ``nextUpdate``): :mod:`.dcap`; collateral per platform and the ``tdx`` policy: :mod:`.tdx_policy`
  (``CollateralStore.needs_collateral`` decides when to fetch; the fetching itself is the shell's,
  :mod:`cocoon.net.collateral`);
- checks on verified measurements (not debug, reportdata bound to the claims): :mod:`.quote_checks`;
- issue a certificate: :mod:`.issue` (``issue_certificate``), for a node's key and current quote held
  by :mod:`.identity` (``NodeIdentity``, refreshed before expiry); parse and check one:
  :mod:`.certificate` (``parse_certificate`` -> ``RaTlsCertificate``); the claims that bind key and
  quote: :mod:`.claims`;
- apply a policy to a peer's certificate (``any``, ``fake``, ``tdx``; allowlists): :mod:`.policy`,
  :mod:`.tdx_policy`, plus the signed-statement requirement :mod:`.statement_policy`; what an accepted
  peer is: :mod:`.peer` (``AttestedPeer``). The policy runs during the TLS handshake, in
  :func:`cocoon.net.tls.establish`, before any application byte moves;
- produce quotes: :mod:`.providers` (fake, static), :mod:`.tdx_provider` (Linux configfs-tsm);
- signed facts: :mod:`.signed` (domain-separated Ed25519), :mod:`.statement` (the claims statement
  in every certificate), :mod:`.gpu` (GPU evidence digests), :mod:`.receipt` (per-answer receipts).
"""
