"""The client daemon: OpenAI-compatible HTTP API in front of connections to proxies."""
