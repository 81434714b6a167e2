"""Asyncio shell: attested TLS streams, RPC connections and listeners (nothing role-specific)."""
