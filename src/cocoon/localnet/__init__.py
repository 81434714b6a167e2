"""The local network: process supervision and `cocoon up`."""
