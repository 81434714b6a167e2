"""The form of ``POST /v1/audio/transcriptions`` (OpenAI's, as the reference network takes it), checked
field by field (pure).

The request is ``multipart/form-data``: one ``file`` (the audio, with its file name) and text fields.
Accepted: ``model``, ``language``, ``prompt``, ``temperature``, ``response_format`` (``json`` or
``verbose_json``: the other formats are bare text that carries no usage, and an answer without usage
cannot be metered), ``timestamp_granularities[]`` (with ``verbose_json``), ``chunking_strategy``
(``auto``), ``stream`` (``false``: streamed transcriptions are not relayed yet), and our own fields
(``max_coefficient``, ``timeout``, ``enable_debug``, ``request_guid``), which never reach the engine.
Anything else is a 400 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cocoon.api.multipart import FormPart, parse_form
from cocoon.api.schema import MAX_COEFFICIENT_LIMIT, MAX_TIMEOUT_S
from cocoon.errors import RequestError

GRANULARITIES = "timestamp_granularities[]"
FieldCheck = Callable[[str], str | None]
"""Checks a text field's value: None when fine, else a phrase saying what was expected."""


def _choice(*values: str) -> FieldCheck:
    return lambda v: None if v in values else "one of " + ", ".join(map(repr, values))


def _number(lo: float, hi: float) -> FieldCheck:
    def check(v: str) -> str | None:
        try:
            ok = lo <= float(v) <= hi
        except ValueError:
            ok = False
        return None if ok else f"a number between {lo:g} and {hi:g}"

    return check


def _integer(lo: int, hi: int) -> FieldCheck:
    return lambda v: None if v.isdigit() and lo <= int(v) <= hi else f"an integer between {lo} and {hi}"


_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_ENGINE_FIELDS: dict[str, FieldCheck] = {
    "model": lambda v: None if v else "a model id",
    "language": lambda v: None if _LANGUAGE.match(v) else "an ISO-639-1 language code such as 'en'",
    "prompt": lambda v: None,
    "temperature": _number(0.0, 1.0),
    "response_format": _choice("json", "verbose_json"),
    GRANULARITIES: _choice("word", "segment"),
    "chunking_strategy": _choice("auto"),
}
_OURS: dict[str, FieldCheck] = {
    "max_coefficient": _integer(0, MAX_COEFFICIENT_LIMIT),
    "timeout": _number(0.001, MAX_TIMEOUT_S),
    "enable_debug": _choice("true", "false"),
    "request_guid": lambda v: None,
    "stream": _choice("false"),
}
_WHY = {
    "response_format": " (text, srt and vtt answers carry no usage, so they cannot be metered: ask for "
    "json and format its text yourself)",
    "stream": " (streamed transcriptions are not relayed by this network yet)",
}


@dataclass(frozen=True, slots=True)
class TranscriptionForm:
    """A checked transcription form: the fields for the engine (in a fixed order; the repeated
    ``timestamp_granularities[]`` as a list), the audio file, and our own fields."""

    engine_fields: dict[str, str | list[str]]
    file: FormPart
    ours: dict[str, str]


def read_transcription_form(raw: bytes, boundary: str) -> TranscriptionForm:
    """Parse and check a transcription form; raises `RequestError` naming the field at fault."""
    fields: dict[str, str | list[str]] = {}
    ours: dict[str, str] = {}
    files: list[FormPart] = []
    granularities: list[str] = []
    for part in parse_form(raw, boundary):
        name = "timestamp_granularities[]" if part.name == "timestamp_granularities" else part.name
        if name == "file":
            files.append(part)
            continue
        value = _text(part, name)
        if name in _OURS:
            _check(_OURS, name, value)
            _put(ours, name, value)
        elif name in _ENGINE_FIELDS:
            _check(_ENGINE_FIELDS, name, value)
            if name == GRANULARITIES:
                granularities.append(value)  # the one field that repeats
            else:
                _put(fields, name, value)
        else:
            raise RequestError(f"Unrecognized request argument supplied: {name}", param=name)
    if granularities:
        fields[GRANULARITIES] = granularities
    return TranscriptionForm(_ordered(fields), _one_file(files), ours)


def _text(part: FormPart, name: str) -> str:
    if part.is_file:
        raise RequestError(f"'{name}' must be a text field, not a file.", param=name)
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(f"'{name}' is not UTF-8 text.", param=name) from None


def _check(checks: dict[str, FieldCheck], name: str, value: str) -> None:
    expected = checks[name](value)
    if expected is not None:
        raise RequestError(
            f"Invalid value for '{name}': expected {expected}{_WHY.get(name, '')}.", param=name
        )


def _put(fields: dict[str, str] | dict[str, str | list[str]], name: str, value: str) -> None:
    if name in fields:
        raise RequestError(f"Duplicate form field '{name}'.", param=name)
    fields[name] = value


def _ordered(fields: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    if "model" not in fields:
        raise RequestError("Missing required parameter: 'model'.", param="model")
    if GRANULARITIES in fields and fields.get("response_format") != "verbose_json":
        raise RequestError(
            "'timestamp_granularities[]' needs 'response_format' set to 'verbose_json'.", param=GRANULARITIES
        )
    return {name: fields[name] for name in _ENGINE_FIELDS if name in fields}


def _one_file(files: list[FormPart]) -> FormPart:
    if not files:
        raise RequestError("Missing required parameter: 'file' (the audio, as a file field).", param="file")
    if len(files) > 1:
        raise RequestError("Send exactly one 'file'.", param="file")
    (file,) = files
    if not file.filename:
        raise RequestError(
            "'file' must be a file with a name (its extension tells the engine the audio format).",
            param="file",
        )
    if not file.data:
        raise RequestError("'file' is empty.", param="file")
    return file


def form_parts(engine_fields: dict[str, str | list[str]], file: FormPart) -> list[FormPart]:
    """The parts of the form that goes to the engine: its text fields in order, then the file."""
    parts = [
        FormPart(name, value.encode())
        for name, values in engine_fields.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    return [*parts, file]
