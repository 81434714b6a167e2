"""Validation of ``POST /v1/audio/transcriptions`` forms: OpenAI's fields accepted, ours removed before the
engine, a canonical form for the network that the worker validates the same way, and a 400 naming the
field for everything else."""

from __future__ import annotations

import pytest

from cocoon.api.multipart import FormBody, FormPart, encode_form, parse_form
from cocoon.api.validation import Limits, generates_tokens, validate_request
from cocoon.errors import RequestError

PATH = "/v1/audio/transcriptions"
AUDIO = FormPart("file", b"RIFF....WAVEfmt " + bytes(100), "note.wav", "audio/wav")


def _form(*fields: tuple[str, str], file: FormPart | None = AUDIO) -> FormBody:
    parts = [FormPart(name, value.encode()) for name, value in fields]
    return encode_form([*parts, file] if file else parts)


def _validate(body: FormBody, limits: Limits | None = None) -> object:
    return validate_request(PATH, body.data, limits or Limits(), content_type=body.content_type)


def test_openai_fields_pass_and_ours_are_removed() -> None:
    body = _form(
        ("model", "whisper-1"),
        ("language", "en"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
        ("temperature", "0.2"),
        ("max_coefficient", "1500"),
        ("timeout", "30"),
        ("request_guid", "g-1"),
    )
    request = validate_request(PATH, body.data, content_type=body.content_type)
    assert (request.endpoint, request.model, request.stream, request.max_tokens) == (
        "transcriptions",
        "whisper-1",
        False,
        0,
    )
    assert (request.max_coefficient, request.timeout_s, request.request_guid) == (1500, 30.0, "g-1")
    assert not generates_tokens(PATH)  # reserved by its size, metered from the engine's usage
    payload = request.engine_payload
    assert isinstance(payload, FormBody)
    sent = parse_form(payload.data, payload.content_type.split("boundary=")[1])
    names = [p.name for p in sent]
    assert names == [
        "model",
        "language",
        "temperature",
        "response_format",
        "timestamp_granularities[]",
        "timestamp_granularities[]",
        "file",
    ]
    assert sent[-1] == AUDIO
    # The worker validates the network's canonical bytes again (no Content-Type): the same request.
    again = validate_request(PATH, request.engine_body_bytes())
    assert again.engine_body_bytes() == request.engine_body_bytes()


@pytest.mark.parametrize(
    ("fields", "file", "param", "phrase"),
    [
        ((), AUDIO, "model", "Missing required"),
        ((("model", "m"),), None, "file", "Missing required"),
        ((("model", "m"),), FormPart("file", b"x"), "file", "with a name"),
        ((("model", "m"),), FormPart("file", b"", "a.wav"), "file", "empty"),
        ((("model", "m"), ("response_format", "srt")), AUDIO, "response_format", "cannot be metered"),
        ((("model", "m"), ("stream", "true")), AUDIO, "stream", "not relayed"),
        ((("model", "m"), ("temperature", "1.5")), AUDIO, "temperature", "between 0 and 1"),
        ((("model", "m"), ("language", "English")), AUDIO, "language", "ISO-639-1"),
        (
            (("model", "m"), ("timestamp_granularities[]", "word")),
            AUDIO,
            "timestamp_granularities[]",
            "verbose",
        ),
        ((("model", "m"), ("model", "n")), AUDIO, "model", "Duplicate"),
        ((("model", "m"), ("speed", "2")), AUDIO, "speed", "Unrecognized"),
        ((("model", "m"), ("max_coefficient", "-1")), AUDIO, "max_coefficient", "integer"),
    ],
)
def test_bad_forms_are_400s_naming_the_field(
    fields: tuple[tuple[str, str], ...], file: FormPart | None, param: str, phrase: str
) -> None:
    with pytest.raises(RequestError) as info:
        _validate(_form(*fields, file=file))
    assert (info.value.status, info.value.param) == (400, param)
    assert phrase in info.value.message


def test_a_text_field_sent_as_a_file_is_refused() -> None:
    with pytest.raises(RequestError) as info:
        _validate(_form(file=FormPart("model", b"m", "m.txt")))
    assert info.value.param == "model"


def test_a_form_above_the_limit_is_413() -> None:
    body = _form(("model", "m"))
    with pytest.raises(RequestError) as info:
        _validate(body, Limits(max_form_bytes=len(body.data) - 1))
    assert info.value.status == 413
