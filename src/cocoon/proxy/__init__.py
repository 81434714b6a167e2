"""The proxy: accepts workers and clients, routes requests, meters answers, keeps the ledger."""
