"""The OpenAI-compatible API surface as pure functions: request validation, rewriting, error bodies."""
