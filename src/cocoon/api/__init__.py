"""The OpenAI-compatible API surface as pure functions: request validation, rewriting, error bodies.

- `validation`: every request (JSON bodies, and the transcription form) checked and rewritten for the
  engine; `schema`: each endpoint's parameters;
- `responses_request` and `responses_answer`: the Responses API translated onto chat completions and back;
- `multipart` and `transcription`: forms read strictly and written canonically; the transcription form;
- `capabilities`: the endpoints a worker may declare; `engine_errors`, `error_codes`: errors classified.
"""
