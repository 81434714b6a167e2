"""Our wire protocol, sans-IO: frames, messages and the RPC endpoint state machine (pure core)."""
