"""The worker: connects out to proxies, serves their requests through an OpenAI-compatible engine."""
