"""Reading a request body that must be one JSON object, strictly (pure).

The body must be one JSON object in UTF-8 (a leading byte-order mark is ignored) that can be sent on
exactly as strict JSON: no duplicate keys, no ``NaN``/``Infinity``, no number beyond a 64-bit float
(``1e999``), no lone UTF-16 surrogate escape (``"\\ud800"``), arrays and objects nested at most
`MAX_JSON_DEPTH` deep. Whatever else a body holds is a `RequestError` (a 4xx), never another exception.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

import msgspec

from cocoon.errors import RequestError

__all__ = ["MAX_JSON_DEPTH", "encode_json", "parse_json_object"]

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have (a JSON schema in `response_format` or `tools`
needs a few dozen levels at most; Python's parser and encoder recurse per level)."""


def encode_json(value: Any) -> bytes:
    """Compact strict JSON in UTF-8; raises ValueError for a non-finite float, UnicodeEncodeError for a
    lone surrogate (what `parse_json_object` refuses up front).

    Written by msgspec (several times faster than the json module; the same JSON, but for how a float
    is spelled: ``1e16``, not ``1e+16``). msgspec raises for a lone surrogate as the json module does,
    but writes a non-finite float as ``null``: whenever its output holds a ``null`` value, the json
    module (which refuses one) checks that none came from a float.
    """
    out = msgspec.json.encode(value)
    if b"null" in out and _NULL_VALUE.search(out) is not None:
        json.dumps(value, allow_nan=False)  # raises ValueError for a non-finite float
    return out


# A null where a value starts (or a string's "[null", ":null", ",null": then the check is merely spared).
_NULL_VALUE = re.compile(rb"(?:\A|[\[:,])null")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RequestError(f"Duplicate key {key!r} in the request body.", param=key)
        result[key] = value
    return result


def _reject_constant(token: str) -> None:
    raise RequestError(f"Invalid JSON number {token} in the request body.")


# A JSON string, possessively matched (no backtracking); one left open runs to the end of the body, so a
# match never fails once started (no retry at each later quote: linear time). The bytes of multi-byte
# UTF-8 characters are never ASCII.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes


def _nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in ``raw``, in a few passes of C: strings dropped, then the
    running sum of the brackets left. Up to where a body stops being valid JSON, strings end where the
    parser's do, so the parser never nests deeper than this says."""
    brackets = _JSON_STRING.sub(b"", raw).translate(_BRACKET_STEP, _NOT_BRACKET)
    return max(accumulate(array("b", brackets)), default=0)


def _too_deep() -> RequestError:
    return RequestError(f"The request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels.")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be one JSON object (see the module docstring for the rules)."""
    if not raw.strip():
        raise RequestError("The request body is empty. Send a JSON object.")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise RequestError(
            f"The request body is not UTF-8 text (invalid byte at offset {exc.start}). "
            "Send a JSON object encoded in UTF-8."
        ) from exc
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise _too_deep()
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except RecursionError:  # cannot happen below MAX_JSON_DEPTH; never a 500 should the scan be wrong
        raise _too_deep() from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"The request body is not valid JSON ({exc}). Send a JSON object.") from exc
    except ValueError as exc:  # the only other one: an integer literal of more than 4300 digits
        raise RequestError("The request body holds an integer with far too many digits.") from exc
    if not isinstance(value, dict):
        raise RequestError("The request body must be a JSON object.")
    _check_encodable(value)
    return value


def _check_encodable(body: dict[str, Any]) -> None:
    """Refuse what parses but cannot be sent on as strict JSON in UTF-8, naming the parameter."""
    try:
        encode_json(body)
    except ValueError:  # UnicodeEncodeError is one too
        raise _unencodable(body) from None


def _unencodable(body: dict[str, Any]) -> RequestError:
    """The error for the first member of ``body`` that does not encode."""
    for key, value in body.items():
        try:
            encode_json(key)
        except UnicodeEncodeError:
            return RequestError("A key of the request body holds a lone UTF-16 surrogate escape.")
        try:
            encode_json(value)
        except UnicodeEncodeError:
            return RequestError(
                f"Invalid value for '{key}': it holds a lone UTF-16 surrogate escape (such as \"\\ud800\"), "
                "which is not Unicode text.",
                param=key,
            )
        except ValueError:
            return RequestError(
                f"Invalid value for '{key}': it holds a number too large for a 64-bit float (such as 1e999).",
                param=key,
            )
    return RequestError("The request body cannot be sent on as strict JSON.")
