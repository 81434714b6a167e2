"""Attestation: RA-TLS certificates, TDX quotes, quote providers and policies (pure core)."""
