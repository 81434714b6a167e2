"""Tool calls and structured output of the fake engine: which tool it calls, with what JSON (pure).

`schema_instance` builds the one JSON value the fake engine answers for a JSON schema (tool
``parameters`` or ``response_format``'s schema), so it validates against the schema:

* a local ``$ref`` (``#/$defs/X``, any JSON pointer into the root schema) is followed; a ``$ref``
  already being expanded (a recursive model) gives ``null``;
* ``const`` gives its value; ``enum`` its first value; ``anyOf`` / ``oneOf`` / ``allOf`` the instance
  of their first alternative that is not ``{"type": "null"}``;
* by ``type`` (a list of types: its first that is not ``"null"``; no type: ``object`` if there are
  ``properties``, ``array`` if there are ``items``): ``object`` -> every property in ``properties``,
  in order, built recursively (none: ``{}``); ``array`` -> ``[]`` (or ``minItems`` copies of the
  instance of ``items``); ``string`` -> the given word, or a fixed value for a known ``format``
  (`FORMATS`: date-time, date, time, uuid, email, uri); ``integer`` -> 1; ``number`` -> 1.5;
  ``boolean`` -> true; ``null``, unknown or no type -> null.

`compact_json` is the text sent (``separators=(",", ":")``, non-ASCII kept). `json_answer` says
whether the answer is a tool call (`called_tool` picks the tool, see `cocoon.engine.fake_answer`) or a
structured output (`structured_text`), and its JSON; `json_pieces` splits and counts it (`split_text`);
`cocoon.engine.tool_calls.tool_call_id` names a call; `check_tools` and `check_response_format`
refuse what vLLM refuses, as ``(message, param)``.
"""

from __future__ import annotations

from typing import Any

from cocoon.engine.tool_calls import compact_json

Refusal = tuple[str, str]
"""Why a request is refused (HTTP 400): the message and the request field at fault."""

FORMATS = {
    "date-time": "2000-01-01T00:00:00Z",
    "date": "2000-01-01",
    "time": "00:00:00",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "email": "fake@example.com",
    "uri": "https://example.com/",
}
_SCALARS: dict[str, Any] = {"integer": 1, "number": 1.5, "boolean": True}
_CHOICES = ("none", "auto", "required")


def schema_instance(schema: Any, word: str) -> Any:
    """The JSON value the fake engine gives for ``schema`` (see the module docstring)."""
    return _instance(schema, schema, word, frozenset())


def _resolve(root: Any, ref: str) -> Any:
    """The sub-schema a local ``$ref`` points at (None if it is not local or not there)."""
    if not ref.startswith("#"):
        return None
    node = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _not_null(alternatives: list[Any]) -> Any:
    return next((a for a in alternatives if not (isinstance(a, dict) and a.get("type") == "null")), None)


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "items" in schema:
        return "array"
    return kind if isinstance(kind, str) else None


def _instance(schema: Any, root: Any, word: str, expanding: frozenset[str]) -> Any:
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return None if ref in expanding else _instance(_resolve(root, ref), root, word, expanding | {ref})
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _instance(_not_null(schema[key]), root, word, expanding)
    kind = _type_of(schema)
    if kind == "object":
        properties = schema.get("properties")
        items = properties.items() if isinstance(properties, dict) else ()
        return {name: _instance(sub, root, word, expanding) for name, sub in items}
    if kind == "array":
        count = schema.get("minItems", 0)
        return [_instance(schema.get("items"), root, word, expanding) for _ in range(int(count))]
    if kind == "string":
        return FORMATS.get(schema.get("format", ""), word)
    return _SCALARS.get(kind or "")


def tool_arguments(function: dict[str, Any], word: str) -> str:
    """The ``arguments`` of a call of ``function`` (an OpenAI tool's ``function`` object)."""
    parameters = function.get("parameters")
    value = schema_instance(parameters if isinstance(parameters, dict) else {"type": "object"}, word)
    return compact_json(value if isinstance(value, dict) else {})


def _functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t["function"] for t in body.get("tools") or []]


def called_tool(body: dict[str, Any], last_text: str) -> dict[str, Any] | None:
    """The ``function`` object of the tool a (checked) chat ``body`` calls, or None for a text answer."""
    functions = _functions(body)
    choice = body.get("tool_choice")
    if not functions or choice == "none":
        return None
    if choice == "required":
        return functions[0]
    if isinstance(choice, dict):
        return next(f for f in functions if f["name"] == choice["function"]["name"])
    if body["messages"][-1].get("role") == "tool":
        return None  # "auto" answers a tool result with text
    return next((f for f in functions if f["name"] in last_text), None)


def structured_text(body: dict[str, Any], word: str, text: tuple[str, ...]) -> str | None:
    """The JSON a (checked) ``response_format`` asks for (``text``: the text answer's pieces), or None."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return compact_json({"answer": "".join(text).strip()})
    if fmt.get("type") == "json_schema":
        return compact_json(schema_instance(fmt["json_schema"].get("schema", {}), word))
    return None


def split_text(text: str, chunks: int) -> tuple[str, ...]:
    """``text`` in ``n = max(1, min(chunks, L))`` pieces, piece ``j`` = ``text[j*L//n : (j+1)*L//n]``."""
    n = max(1, min(chunks, len(text)))
    return tuple(text[j * len(text) // n : (j + 1) * len(text) // n] for j in range(n))


def json_pieces(text: str, cap: int | None, chunks: int) -> tuple[tuple[str, ...], int, bool]:
    """A JSON answer's pieces, completion tokens per choice (``ceil(len / 4)``, at least 1), and whether
    the cap cut it (to ``4 * cap`` characters)."""
    tokens = max(1, -(-len(text) // 4))
    if cap is not None and cap < tokens:
        return split_text(text[: 4 * cap], chunks), cap, True
    return split_text(text, chunks), tokens, False


def json_answer(body: dict[str, Any], last_text: str, text: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The tool a (checked) ``body`` calls (or None) and the JSON answered instead of the text answer
    (pieces ``text``; None: answer the text); ``last_text`` is the last message's (or prompt's) text."""
    word = (last_text.split() or ["fake"])[0]
    tool = called_tool(body, last_text) if "messages" in body else None
    if tool is not None:
        return tool["name"], tool_arguments(tool, word)
    return None, structured_text(body, word, text)


def _is_tool(tool: Any) -> bool:
    function = tool.get("function") if isinstance(tool, dict) else None
    return (
        isinstance(tool, dict)
        and tool.get("type") == "function"
        and isinstance(function, dict)
        and isinstance(function.get("name"), str)
    )


def check_tools(body: dict[str, Any]) -> Refusal | None:
    """vLLM's refusals of a chat body's ``tools`` and ``tool_choice``, or None."""
    tools = body.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(_is_tool(t) for t in tools)):
        return "'tools' must be a list of {'type': 'function', 'function': {'name': ...}}", "tools"
    choice = body.get("tool_choice")
    if choice is None or choice == "none":
        return None
    if not tools:
        return "When using `tool_choice`, `tools` must be set.", "tool_choice"
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name not in [f["name"] for f in _functions(body)]:
            message = "The tool specified in `tool_choice` does not match any of the specified `tools`"
            return message, "tool_choice"
        return None
    if choice not in _CHOICES:
        return f"'tool_choice' must be one of {list(_CHOICES)} or a named function", "tool_choice"
    return None


def check_response_format(body: dict[str, Any]) -> Refusal | None:
    """vLLM's refusals of a ``response_format``, or None."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        return "'response_format.type' must be 'text', 'json_object' or 'json_schema'", "response_format"
    if kind == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
        return "'response_format.json_schema' is required with type 'json_schema'", "response_format"
    return None
