"""Hostile request bodies against `validate_request`: only a `RequestError` with a 4xx ever comes out.

A table of the known classes (each named where it is refused), Hypothesis-generated bodies of every
shape (JSON of any value, lone surrogates, huge numbers, NaN/Infinity literals, deep nesting, raw
bytes, byte-order marks), and the worst cases a body of the full size limit can hold, each timed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cocoon.api.json_body import MAX_JSON_DEPTH, parse_json_object
from cocoon.api.validation import DEFAULT_LIMITS, ValidatedRequest, validate_request
from cocoon.errors import RequestError

CHAT = "/v1/chat/completions"
COMPL = "/v1/completions"
GOOD = '{"model":"m","messages":[{"role":"user","content":"hi"}]%s}'
PER_BODY_S = 1.0
"""Wall time a small body may take to validate (they take well under a millisecond)."""
FULL_SIZE_S = 5.0
"""Wall time a body of the full size limit may take (the worst here takes about 0.5 s on one core)."""


def body(extra: str = "") -> bytes:
    return (GOOD % extra).encode()


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


REFUSED = [
    ("empty", b"", None),
    ("whitespace only", b" \t\r\n ", None),
    ("NUL byte", b"\x00", None),
    ("NUL bytes inside", body().replace(b'"hi"', b'"h\x00i"'), None),
    ("not an object: array", b"[1, 2]", None),
    ("not an object: string", b'"text"', None),
    ("not an object: number", b"12", None),
    ("not an object: null", b"null", None),
    ("not UTF-8", b'{"model": "\xff\xfe"}', None),
    ("UTF-16", body().decode().encode("utf-16"), None),
    ("lone high surrogate", body(',"user":"\\ud800"'), "user"),
    ("lone low surrogate", body(',"user":"x\\udfffy"'), "user"),
    ("lone surrogate in a message", body().replace(b'"hi"', b'"\\ud83d"'), "messages"),
    ("lone surrogate in a key", b'{"\\ud800":1}', None),
    ("1e999", body(',"temperature":1e999'), "temperature"),
    ("-1e999 deep in tools", body(',"tools":[{"x":[-1e999]}]'), "tools"),
    ("int beyond int64", body(',"seed":' + str(2**63)), "seed"),
    ("int below int64", body(',"seed":' + str(-(2**63) - 1)), "seed"),
    ("400-digit temperature", body(',"temperature":' + "9" * 400), "temperature"),
    ("5000-digit integer", body(',"seed":' + "9" * 5000), None),
    ("token id beyond int64", b'{"model":"m","prompt":[1,' + str(2**64).encode() + b"]}", "prompt"),
    ("NaN", body(',"temperature":NaN'), None),
    ("Infinity", body(',"top_p":Infinity'), None),
    ("-Infinity", body(',"tools":[-Infinity]'), None),
    ("duplicate keys", b'{"model":"m","model":"n","messages":[]}', "model"),
    ("nested one level too deep", body(',"tools":' + nested(MAX_JSON_DEPTH)), None),
    ("deeply nested arrays", nested(100_000).encode(), None),
    ("deeply nested objects", ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(), None),
    ("unclosed deep nesting", b"[" * 200_000, None),
    ("many unknown keys", ("{" + ",".join(f'"k{i}":{i}' for i in range(50_000)) + "}").encode(), None),
    ("stream_options without stream", body(',"stream_options":{"include_usage":true}'), "stream_options"),
    ("best_of below n", b'{"model":"m","prompt":"p","n":3,"best_of":2}', "best_of"),
]


@pytest.mark.parametrize(("case", "raw", "param"), REFUSED, ids=[c[0] for c in REFUSED])
def test_each_hostile_body_is_a_400_naming_the_parameter(case: str, raw: bytes, param: str | None) -> None:
    path = COMPL if b'"prompt"' in raw else CHAT
    started = time.perf_counter()
    with pytest.raises(RequestError) as info:
        validate_request(path, raw)
    assert time.perf_counter() - started < PER_BODY_S
    assert info.value.status == 400 and info.value.message
    if param is not None:
        assert info.value.param == param, info.value.message


def test_nesting_up_to_the_limit_and_a_byte_order_mark_are_accepted() -> None:
    # MAX_JSON_DEPTH levels in all: the body object, "tools" and its nested arrays.
    req = validate_request(CHAT, body(',"tools":' + nested(MAX_JSON_DEPTH - 1, "")))
    assert validate_request(CHAT, req.engine_body_bytes()).engine_body == req.engine_body
    bom = validate_request(CHAT, b"\xef\xbb\xbf" + body())
    assert bom.engine_body_bytes() == validate_request(CHAT, body()).engine_body_bytes()
    brackets_in_strings = validate_request(CHAT, body(',"user":"' + "[{" * 5000 + '\\"]"'))
    assert brackets_in_strings.engine_body["user"] == "[{" * 5000 + '"]'


def test_a_surrogate_pair_escape_is_one_character() -> None:
    req = validate_request(CHAT, body(',"user":"\\ud83d\\ude00"'))
    assert req.engine_body["user"] == "\U0001f600"
    assert "😀".encode() in req.engine_body_bytes()


# --- any body ----------------------------------------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=12)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 0.0, -0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=20,
)
MESSAGES = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]), "content": VALUES}),
    min_size=1,
    max_size=3,
)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "n": st.integers(1, 5),
    "best_of": st.integers(1, 8),
    "max_tokens": st.integers(1, 64),
    "max_completion_tokens": st.integers(1, 64),
    "stream": st.booleans(),
    "stream_options": st.just({"include_usage": True}),
    "temperature": st.floats(0, 2),
    "seed": st.integers(-(2**63), 2**63 - 1),
    "logit_bias": st.dictionaries(st.integers(0, 99).map(str), st.floats(-100, 100), max_size=3),
    "stop": st.lists(TEXT, max_size=3),
    "tools": st.lists(VALUES, max_size=2),
    "response_format": st.dictionaries(TEXT, VALUES, max_size=3),
    "max_coefficient": st.integers(0, 10**9),
    "timeout": st.floats(0.001, 3600),
    "user": TEXT,
}
"""Per optional parameter: usually a value of its type, often anything at all."""
EXTRAS = {key: st.one_of(plausible, plausible, VALUES) for key, plausible in PLAUSIBLE.items()}
MODEL = st.one_of(st.just("m"), TEXT)
CHAT_BODIES = st.fixed_dictionaries(
    {"model": MODEL, "messages": st.one_of(MESSAGES, MESSAGES, VALUES)}, optional=EXTRAS
)
COMPLETION_BODIES = st.fixed_dictionaries(
    {"model": MODEL, "prompt": st.one_of(TEXT, st.lists(st.integers(0, 2**64), min_size=1), VALUES)},
    optional=EXTRAS,
)


def _as_json(value: Any) -> bytes:
    # ensure_ascii: lone surrogates become \ud800 escapes; NaN and infinities become NaN/Infinity.
    return json.dumps(value).encode()


REQUESTS = st.one_of(
    st.tuples(st.just(CHAT), CHAT_BODIES.map(_as_json)),
    st.tuples(st.just(COMPL), COMPLETION_BODIES.map(_as_json)),
)
OTHER_BODIES = st.one_of(
    VALUES.map(_as_json),
    st.binary(max_size=64),
    st.tuples(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b" ", b"\x00"]), REQUESTS).map(
        lambda pair: pair[0] + pair[1][1]  # a prefix: BOM, UTF-16's BOM, whitespace, NUL
    ),
    st.integers(min_value=0, max_value=3 * MAX_JSON_DEPTH).map(lambda d: nested(d).encode()),
    st.tuples(REQUESTS, st.integers(min_value=0, max_value=40)).map(
        lambda pair: pair[0][1][: pair[1]]  # cut anywhere: truncated JSON
    ),
)
CASES = st.one_of(REQUESTS, REQUESTS, st.tuples(st.sampled_from([CHAT, COMPL]), OTHER_BODIES))


def _check(path: str, raw: bytes, within_s: float = PER_BODY_S) -> None:
    started = time.perf_counter()
    try:
        req = validate_request(path, raw)
    except RequestError as error:
        assert 400 <= error.status < 500, error.message
        assert error.message
        json.dumps(error.to_body())  # renders as an error body, whatever it quotes
    else:
        assert isinstance(req, ValidatedRequest)
        sent = req.engine_body_bytes()  # what the client sends on: strict JSON in UTF-8
        json.loads(sent.decode("utf-8"), parse_constant=pytest.fail)
        again = validate_request(path, sent)  # and what the worker accepts as it is
        assert again.engine_body == req.engine_body and again.choices == req.choices
    assert time.perf_counter() - started < within_s


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CASES)
def test_any_body_is_accepted_or_refused_with_a_4xx_never_anything_else(case: tuple[str, bytes]) -> None:
    _check(*case)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_are_refused_with_a_400(raw: bytes) -> None:
    try:
        assert isinstance(parse_json_object(raw), dict)
    except RequestError as error:
        assert error.status == 400


# --- the worst a full-size body can hold ---------------------------------------------------------------

LIMIT = DEFAULT_LIMITS.max_body_bytes - 64
"""The size limit, less room for the fields the rewrite adds (the worker checks the rewritten body)."""


def _fill(unit: bytes, head: bytes = b"[", tail: bytes = b"]") -> bytes:
    """``unit`` repeated in an array, with ``head`` and ``tail`` around, as large as the limit allows."""
    count = (LIMIT - len(head) - len(tail)) // (len(unit) + 1)
    return head + b",".join([unit] * count) + tail


FULL_SIZE = [
    ("empty arrays", _fill(b"[]")),
    ("empty objects", _fill(b"{}")),
    ("integers", _fill(b"7")),
    ("floats", _fill(b"1.5")),
    ("escapes", b'{"a":"' + b"\\n" * ((LIMIT - 8) // 2) + b'"}'),
    ("surrogate escapes", b'{"a":"' + b"\\ud800" * ((LIMIT - 8) // 6) + b'"}'),
    ("brackets in one string", b'{"a":"' + b"[" * (LIMIT - 8) + b'"}'),
    ("empty strings", _fill(b'""')),
    ("quotes", b'"' * LIMIT),
    # an open string of escaped quotes: a scan that retried at each quote would take hours
    ("escaped quotes left open", b'{"a":"' + b'\\"' * ((LIMIT - 110) // 2) + b"[" * 100),
    ("nesting", b"[" * (LIMIT // 2) + b"]" * (LIMIT // 2)),
    ("keys", b"{" + b",".join(b'"%d":1' % i for i in range(LIMIT // 12)) + b"}"),
    ("token ids", _fill(b"50256", b'{"model":"m","prompt":[', b"]}")),
]


@pytest.mark.parametrize(("case", "raw"), FULL_SIZE, ids=[c[0] for c in FULL_SIZE])
def test_a_full_size_worst_case_is_answered_in_bounded_time(case: str, raw: bytes) -> None:
    assert len(raw) <= LIMIT
    _check(COMPL, raw, FULL_SIZE_S)
