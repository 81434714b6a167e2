"""The fake engine's ``/v1/audio/transcriptions``: a deterministic transcript of any audio (pure).

It reads the form as an engine does and answers from it alone, so tests predict every number:

* text = ``"transcript of <file name>: <N> bytes"``, followed by ``" " + prompt`` when a ``prompt``
  field is given;
* ``json`` (the default): ``{"text", "usage"}`` with usage in tokens, as OpenAI's
  ``gpt-4o-transcribe``: input = ``ceil(N / 640)`` audio tokens (16 kHz 16-bit mono at 50 tokens per
  second, at least 1) plus ``ceil(len(prompt) / 4)`` text tokens; output = ``ceil(len(text) / 4)``;
* ``verbose_json``: OpenAI's ``whisper-1`` shape (task, language, duration = N / 32000 s, text, one
  segment, ``words`` when asked with ``timestamp_granularities[]``) with usage as a duration
  (``{"type": "duration", "seconds"}``), as Whisper bills it;
* any other format, a missing file or model, another model: refused as an engine would.

With ``transcriptions=False`` the engine has no such route (404), as a text-only engine.
"""

from __future__ import annotations

import math
from typing import Any

from cocoon.api.multipart import FormBody, FormPart, boundary_of, parse_form
from cocoon.engine.fake_answer import Rejection
from cocoon.errors import RequestError

TRANSCRIPTION = "transcription"
BYTES_PER_SECOND = 32_000  # 16 kHz, 16-bit, mono
BYTES_PER_TOKEN = 640  # 50 audio tokens per second


def transcribe(form: FormBody, model: str) -> dict[str, Any] | Rejection:
    """The answer to a transcription ``form`` for the engine serving ``model``, or its refusal."""
    try:
        parts = parse_form(form.data, boundary_of(form.content_type))
    except RequestError as exc:
        return Rejection(400, exc.message)
    fields = {p.name: p.data.decode("utf-8", "replace") for p in parts if not p.is_file}
    files = [p for p in parts if p.is_file and p.name == "file"]
    if not files:
        return Rejection(400, "'file' is required", "file")
    if fields.get("model") != model:
        return Rejection(
            404, f"The model `{fields.get('model')}` does not exist.", "model", "model_not_found"
        )
    fmt = fields.get("response_format", "json")
    if fmt not in ("json", "verbose_json"):
        return Rejection(400, f"response_format {fmt!r} is not served by this engine", "response_format")
    granularities = [p.data.decode() for p in parts if p.name == "timestamp_granularities[]"]
    return _answer(files[0], fields, fmt, granularities)


def _answer(audio: FormPart, fields: dict[str, str], fmt: str, granularities: list[str]) -> dict[str, Any]:
    size = len(audio.data)
    prompt = fields.get("prompt", "")
    text = f"transcript of {audio.filename}: {size} bytes" + (f" {prompt}" if prompt else "")
    if fmt == "json":
        audio_tokens = max(1, math.ceil(size / BYTES_PER_TOKEN))
        text_tokens = math.ceil(len(prompt) / 4)
        output = math.ceil(len(text) / 4)
        usage = {
            "type": "tokens",
            "input_tokens": audio_tokens + text_tokens,
            "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": text_tokens},
            "output_tokens": output,
            "total_tokens": audio_tokens + text_tokens + output,
        }
        return {"text": text, "usage": usage}
    duration = round(size / BYTES_PER_SECOND, 3)
    verbose: dict[str, Any] = {
        "task": "transcribe",
        "language": fields.get("language", "english"),
        "duration": duration,
        "text": text,
        "segments": [_segment(text, duration)],
        "usage": {"type": "duration", "seconds": duration},
    }
    if "word" in granularities:
        words = text.split()
        step = duration / len(words)
        verbose["words"] = [
            {"word": w, "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
            for i, w in enumerate(words)
        ]
    return verbose


def _segment(text: str, duration: float) -> dict[str, Any]:
    return {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": duration,
        "text": text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": -0.1,
        "compression_ratio": 1.0,
        "no_speech_prob": 0.0,
    }
