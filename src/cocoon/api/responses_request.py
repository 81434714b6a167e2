"""OpenAI's Responses API (stateless: ``store: false``) as chat completions: the request side (pure).

An engine that serves ``/v1/responses`` itself (vLLM) gets the request as it is. For one that serves
only chat completions (llama.cpp's server), the worker translates: `chat_request` turns a Responses body
into a chat completions body. The client validates a Responses body's structure with it too: what it
cannot translate is a 400 naming the field. `cocoon.api.responses_answer` turns the answers back.

The subset translated: ``input`` as a string or a list of ``message`` (roles user, system, developer,
assistant; text and image parts), ``function_call`` and ``function_call_output`` items (``reasoning``
items are dropped: engines do not take them back); ``instructions``; function ``tools`` and
``tool_choice``; ``text.format`` (text, json_object, json_schema); ``max_output_tokens``,
``temperature``, ``top_p``, ``parallel_tool_calls``, ``user``, ``reasoning.effort``. Anything else that
would change the answer is refused where it is found (hosted tools, stored conversations).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cocoon.errors import RequestError

__all__ = ["chat_request", "reasoning_effort"]

_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
"""Responses roles and the chat role each becomes (``developer`` is ``system`` to chat templates that
predate it)."""
_TEXT_PARTS = ("input_text", "output_text", "text", "refusal")


def chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat completions body for a Responses ``body`` (our extra fields already removed).

    Raises `RequestError` naming the field for anything that cannot be translated.
    """
    if not isinstance(body.get("model"), str):
        raise RequestError("Missing required parameter: 'model'.", param="model")
    chat: dict[str, Any] = {"model": body["model"], "messages": _messages(body)}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "parallel_tool_calls", "user"):
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("tools"):
        if not isinstance(body["tools"], list):
            raise RequestError("'tools' must be an array of function tools.", param="tools")
        chat["tools"] = [_tool(t, i) for i, t in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    effort = reasoning_effort(body)
    if effort is not None:
        chat["reasoning_effort"] = effort
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def reasoning_effort(body: Mapping[str, Any]) -> Any:
    """The ``reasoning.effort`` asked for, if any."""
    reasoning = body.get("reasoning")
    return reasoning.get("effort") if isinstance(reasoning, dict) else None


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    given = body.get("input")
    if not isinstance(given, str | list):
        raise RequestError("'input' must be a string or an array of input items.", param="input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
        return messages
    for index, item in enumerate(given):
        _add_item(messages, item, f"input[{index}]")
    if not messages:
        raise RequestError("'input' holds no message to answer.", param="input")
    return messages


def _add_item(messages: list[dict[str, Any]], item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise RequestError(f"Invalid value for '{where}': expected an object.", param=where)
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        messages.append(_message(item, where))
    elif kind == "function_call":
        call = {
            "id": _field(item, "call_id", where),
            "type": "function",
            "function": {"name": _field(item, "name", where), "arguments": _field(item, "arguments", where)},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and last.get("tool_calls") is not None:
            last["tool_calls"].append(call)  # parallel calls of one turn: one assistant message
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else _text(output, f"{where}.output")
        messages.append({"role": "tool", "tool_call_id": _field(item, "call_id", where), "content": text})
    elif kind != "reasoning":  # a reasoning item is the engine's own scratchpad: nothing to send back
        raise RequestError(
            f"Unsupported input item type {kind!r} at '{where}': this network takes message, "
            "function_call, function_call_output and reasoning items.",
            param=f"{where}.type",
        )


def _field(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise RequestError(f"Invalid value for '{where}.{key}': expected a string.", param=f"{where}.{key}")
    return value


def _message(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    role = _ROLES.get(item["role"]) if isinstance(item.get("role"), str) else None
    if role is None:
        raise RequestError(
            f"Invalid value for '{where}.role': expected one of {', '.join(map(repr, _ROLES))}.",
            param=f"{where}.role",
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise RequestError(
            f"Invalid value for '{where}.content': expected a string or an array of content parts.",
            param=f"{where}.content",
        )
    parts = [_part(p, f"{where}.content[{i}]") for i, p in enumerate(content)]
    if all(p["type"] == "text" for p in parts):  # plain text reads the same to every chat template
        return {"role": role, "content": "".join(p["text"] for p in parts)}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS:
        key = "refusal" if kind == "refusal" else "text"
        return {"type": "text", "text": _field(part, key, where)}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        image = {"url": part["image_url"]}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise RequestError(
        f"Unsupported content part at '{where}': this network takes input_text, output_text and "
        "input_image (with an image_url) parts.",
        param=where,
    )


def _text(value: Any, where: str) -> str:
    """The text of a list of text parts (a function call's output may be given so)."""
    if isinstance(value, list):
        parts = [_part(p, f"{where}[{i}]") for i, p in enumerate(value)]
        if all(p["type"] == "text" for p in parts):
            return "".join(p["text"] for p in parts)
    raise RequestError(f"Invalid value for '{where}': expected a string or text parts.", param=where)


def _tool(tool: Any, index: int) -> dict[str, Any]:
    where = f"tools[{index}]"
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise RequestError(
            f"Unsupported tool at '{where}': only function tools are served (the engines run no hosted "
            "tools such as web or file search).",
            param=where,
        )
    function = {"name": _field(tool, "name", where)}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise RequestError(
        "Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or "
        '{"type": "function", "name": ...}.',
        param="tool_choice",
    )


def _response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt.get("schema"), dict) and isinstance(fmt.get("name"), str):
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise RequestError(
        "Invalid value for 'text.format': expected {'type': 'text'}, {'type': 'json_object'} or "
        "{'type': 'json_schema', 'name': ..., 'schema': {...}}.",
        param="text.format",
    )
