"""What the built-in engine's front changes between OpenAI clients and llama.cpp's server (pure).

llama-server batches, streams, constrains ``response_format`` and embeds well, but gets two things
wrong that an OpenAI server must do; `cocoon.engine.llama_front` fixes them with these functions:

* **Forced tool calls.** It refuses ``tool_choice: {"type": "function", "function": {"name": X}}``
  (or ignores it), and its grammar for ``"required"`` lets a small model talk before the call, so no
  call comes. `forced_tools` finds such a request (and refuses what OpenAI refuses); the request is
  sent as `constrained_request`: no tools, but a ``json_schema`` ``response_format`` (`call_schema`)
  that admits exactly one ``{"name": ..., "arguments": ...}`` object of an allowed function, and a
  system message naming the functions. `tool_call_answer` turns that answer back into OpenAI's
  ``tool_calls`` message, and `tool_call_events` into the chunks of a stream.
* **``n`` > 1.** It answers ``n`` choices but counts the tokens of one. `split_n` makes ``n`` requests
  of one choice each (``seed + i`` when a seed is given); `merge_answers` joins their answers, with
  the prompt counted once and completions summed (`merged_usage`, as vLLM counts), and `StreamMerger`
  joins their streams.

No I/O and no clock: bodies in, bodies (or SSE bytes) out.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from cocoon.engine.tool_calls import compact_json, tool_call
from cocoon.errors import RequestError
from cocoon.wire.sse import DONE_EVENT, SseParser, encode_event

CHAT_PATH = "/v1/chat/completions"
"""The chat completions route (the only one with tools)."""
COMPLETION_PATH = "/v1/completions"
"""The legacy completions route."""
CALL_SCHEMA_NAME = "tool_call"
"""The ``json_schema.name`` of the response format that stands for a forced call."""

_FORCED_DROPPED = frozenset(
    {"tools", "tool_choice", "parallel_tool_calls", "response_format", "stream", "stream_options", "stop"}
)
"""Fields a forced call's request does without: the tools become the response format, the answer is
fetched whole, and a stop string met inside the arguments' JSON would cut the call in two."""
_DEFS = ("$defs", "definitions")
_HEAD = ("id", "object", "created", "model", "system_fingerprint")
_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ARGUMENTS = re.compile(r'"arguments"\s*:\s*')
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _function_of(tool: Any) -> dict[str, Any] | None:
    """The ``function`` object of an OpenAI function tool, or None if ``tool`` is not one."""
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    return function if isinstance(function, dict) and isinstance(function.get("name"), str) else None


def forced_tools(body: Mapping[str, Any]) -> tuple[dict[str, Any], ...] | None:
    """The ``function`` objects among which a chat ``body`` forces one call, or None when it forces none.

    ``tool_choice: "required"`` allows every tool, ``{"type": "function", "function": {"name": X}}``
    only X; ``"auto"``, ``"none"``, no choice or a value no OpenAI server accepts is None (the engine
    answers it as it does). A forced call without well-formed function tools, or naming a tool not in
    ``tools``, is a `RequestError` (400) naming the field, in vLLM's words.
    """
    choice = body.get("tool_choice")
    if choice != "required" and not isinstance(choice, dict):
        return None
    tools = body.get("tools")
    if not tools:
        raise RequestError("When using `tool_choice`, `tools` must be set.", param="tool_choice")
    functions = [_function_of(t) for t in tools] if isinstance(tools, list) else [None]
    if None in functions:
        raise RequestError(
            "'tools' must be a list of {'type': 'function', 'function': {'name': ...}}", param="tools"
        )
    allowed = tuple(f for f in functions if f is not None)
    if choice == "required":
        return allowed
    named = choice.get("function") if choice.get("type") == "function" else None
    name = named.get("name") if isinstance(named, dict) else None
    if not isinstance(name, str):
        raise RequestError(
            "'tool_choice' must be 'none', 'auto', 'required' or "
            "{'type': 'function', 'function': {'name': ...}}",
            param="tool_choice",
        )
    chosen = next((f for f in allowed if f["name"] == name), None)
    if chosen is None:
        raise RequestError(
            "The tool specified in `tool_choice` does not match any of the specified `tools`",
            param="tool_choice",
        )
    return (chosen,)


def _moved_ref(ref: str, prefix: str, own_defs: Sequence[str]) -> tuple[str, bool]:
    """Where a local ``$ref`` of a tool's parameters points once they are nested in the call schema,
    and whether that is through their copy.

    A definition of the parameters' own ``$defs`` (or ``definitions``) moves to the root ``$defs``
    under ``<prefix>_<name>``; any other place in them is found through their copy at ``$defs/<prefix>``.
    """
    if not ref.startswith("#"):
        return ref, False  # not local: nothing moved under it
    pointer = ref[1:]
    for key in _DEFS:
        head = f"/{key}/"
        if pointer.startswith(head):
            name, slash, rest = pointer[len(head) :].partition("/")
            if name.replace("~1", "/").replace("~0", "~") in own_defs:
                return f"#/$defs/{prefix}_{name}{slash}{rest}", False
    return f"#/$defs/{prefix}{pointer}", True


def _rewrite_refs(node: Any, prefix: str, own_defs: Sequence[str]) -> tuple[Any, bool]:
    """``node`` with every local ``$ref`` moved (`_moved_ref`), and whether one needs the copy."""
    if isinstance(node, list):
        pairs = [_rewrite_refs(item, prefix, own_defs) for item in node]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    if not isinstance(node, dict):
        return node, False
    out: dict[str, Any] = {}
    needs_copy = False
    for key, value in node.items():
        inner: bool
        if key == "$ref" and isinstance(value, str):
            out[key], inner = _moved_ref(value, prefix, own_defs)
        else:
            out[key], inner = _rewrite_refs(value, prefix, own_defs)
        needs_copy = needs_copy or inner
    return out, needs_copy


def _arguments_schema(function: Mapping[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of a call's ``arguments``: the function's ``parameters`` (no parameters: ``{}`` only),
    its definitions moved into ``defs`` so that its references resolve from the call schema's root."""
    parameters = function.get("parameters")
    if not isinstance(parameters, dict):
        return {"type": "object", "properties": {}, "additionalProperties": False}
    own: dict[str, Any] = {}
    for key in _DEFS:
        if isinstance(parameters.get(key), dict):
            own.update(parameters[key])
    names = list(own)
    schema: dict[str, Any]
    schema, needs_copy = _rewrite_refs({k: v for k, v in parameters.items() if k not in _DEFS}, prefix, names)
    for name, definition in own.items():
        moved, inner = _rewrite_refs(definition, prefix, names)
        defs[f"{prefix}_{name}"] = moved
        needs_copy = needs_copy or inner
    if needs_copy:
        defs[prefix] = schema
    return schema


def call_schema(tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON schema of one call of one of ``tools`` (``function`` objects):
    ``{"name": {"const": X}, "arguments": <X's parameters>}``, an ``anyOf`` of one such object per tool
    when there are several. llama-server's grammar accepts ``const`` and ``anyOf``, and resolves
    references from the root, where each tool's ``$defs`` go (prefixed ``t<i>_`` against clashes)."""
    defs: dict[str, Any] = {}
    alternatives = [
        {
            "type": "object",
            "properties": {
                "name": {"const": function["name"]},
                "arguments": _arguments_schema(function, f"t{i}", defs),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for i, function in enumerate(tools)
    ]
    schema = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    return {**schema, "$defs": defs} if defs else schema


def call_instructions(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system text that tells the model which function(s) it calls and what they do (the grammar
    forces the shape; this is what lets it fill in sensible values)."""
    lines = [
        "Call a function: answer with only the JSON object "
        '{"name": <function name>, "arguments": <its arguments>}.',
        "Functions:" if len(tools) > 1 else "Function:",
    ]
    for function in tools:
        description = function.get("description")
        line = f"- {function['name']}" + (f": {description}" if isinstance(description, str) else "")
        parameters = function.get("parameters")
        if isinstance(parameters, dict):
            line += f" Parameters: {compact_json(parameters)}"
        lines.append(line)
    return "\n".join(lines)


def _with_instructions(messages: Any, text: str) -> Any:
    """``messages`` with ``text`` at the end of the leading system message (one is added if there is
    none: many chat templates accept a system message only first)."""
    if not isinstance(messages, list):
        return messages  # not a chat: the engine refuses it with its own words
    first = messages[0] if messages else None
    if isinstance(first, dict) and first.get("role") in ("system", "developer"):
        content = first.get("content")
        if isinstance(content, str):
            return [{**first, "content": f"{content}\n\n{text}"}, *messages[1:]]
        if isinstance(content, list):
            return [{**first, "content": [*content, {"type": "text", "text": text}]}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def constrained_request(body: Mapping[str, Any], tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The request that asks llama-server for a forced call of one of ``tools``: ``body`` whole (not
    streamed) without its tools, tool choice, response format and stop strings, with the call's
    `call_schema` as a ``json_schema`` response format and `call_instructions` in the system message."""
    out = {key: value for key, value in body.items() if key not in _FORCED_DROPPED}
    out["messages"] = _with_instructions(body.get("messages"), call_instructions(tools))
    out["stream"] = False
    out["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": CALL_SCHEMA_NAME, "schema": call_schema(tools)},
    }
    return out


def parse_call(text: str, tools: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The function name and ``arguments`` text of a call answered as ``text`` (a `call_schema` JSON).

    Whole, the arguments are compact JSON. Cut short (the engine reached its token limit), the name is
    read where the text has it (else the first tool's) and the arguments are the raw text after
    ``"arguments":``, as an OpenAI server passes on arguments it could not finish.
    """
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("name"), str) and "arguments" in value:
        return value["name"], compact_json(value["arguments"])
    names = [f["name"] for f in tools]
    found = _NAME.search(text)
    name = found.group(1) if found and found.group(1) in names else names[0]
    arguments = _ARGUMENTS.search(text)
    return name, text[arguments.end() :].strip() if arguments else ""


def tool_call_answer(answer: Mapping[str, Any], tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A whole chat answer to a `constrained_request` as the answer to the forced call: each choice's
    message is ``{"role": "assistant", "content": null, "tool_calls": [call]}``, the call's id
    ``call_`` + 24 hex of SHA-256(name + arguments + choice index), and its finish reason
    ``"tool_calls"`` (``"length"`` stays: the engine was cut and the arguments may not parse)."""
    choices = []
    for choice in answer.get("choices") or []:
        index = choice.get("index", 0)
        content = (choice.get("message") or {}).get("content")
        name, arguments = parse_call(content if isinstance(content, str) else "", tools)
        message = {"role": "assistant", "content": None, "tool_calls": [tool_call(name, arguments, index)]}
        finish = "length" if choice.get("finish_reason") == "length" else "tool_calls"
        choices.append({**choice, "message": message, "finish_reason": finish})
    return {**answer, "choices": choices}


def _chunk_head(answer: Mapping[str, Any], include_usage: bool) -> dict[str, Any]:
    head = {key: answer[key] for key in _HEAD if key in answer}
    head["object"] = "chat.completion.chunk"
    if include_usage:
        head["usage"] = None  # as OpenAI: every chunk says it carries no usage, the last one does
    return head


def tool_call_events(answer: Mapping[str, Any], include_usage: bool) -> list[bytes]:
    """A `tool_call_answer` as the SSE events of a chat stream: per choice, the assistant role, the
    whole call (index 0, id, type, name, arguments) and the finish reason; then, if ``include_usage``,
    the usage chunk (``choices: []``); then ``data: [DONE]``."""
    head = _chunk_head(answer, include_usage)
    events = []
    for choice in answer.get("choices") or []:
        index = choice.get("index", 0)
        calls = choice["message"]["tool_calls"]
        deltas: list[tuple[dict[str, Any], Any, str | None]] = [
            ({"role": "assistant", "content": None}, None, None),
            ({"tool_calls": [{"index": 0, **call} for call in calls]}, choice.get("logprobs"), None),
            ({}, None, choice.get("finish_reason")),
        ]
        for delta, logprobs, finish in deltas:
            part = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
            events.append(encode_event(_encode({**head, "choices": [part]})))
    if include_usage:
        events.append(encode_event(_encode({**head, "choices": [], "usage": answer.get("usage")})))
    events.append(DONE_EVENT)
    return events


def split_n(body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """``n`` copies of a request asking for ``n`` > 1 choices, each asking for one (with ``seed + i``
    when ``body`` has a seed >= 0, so that the choices differ but stay reproducible); None when
    ``n`` is absent, 1 or not a positive integer (the engine answers or refuses it as it is)."""
    n = body.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 1:
        return None
    seed = body.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:  # llama.cpp's -1: a random seed
        return [{**body, "n": 1} for _ in range(n)]
    return [{**body, "n": 1, "seed": seed + i} for i in range(n)]


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def merged_usage(usages: Sequence[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The usage of ``n`` answers to the same prompt (None where one had none) as one answer's:
    the first's prompt (the prompt is counted once, as vLLM counts ``n`` choices) and its
    ``prompt_tokens_details``, completion tokens and their details summed, ``total_tokens`` = both.
    None when no answer had a usage."""
    present = [u for u in usages if isinstance(u, Mapping)]
    if not present:
        return None
    merged = copy.deepcopy(dict(present[0]))
    completion = sum(_count(u, "completion_tokens") for u in present)
    merged["completion_tokens"] = completion
    merged["total_tokens"] = _count(merged, "prompt_tokens") + completion
    details = [u.get("completion_tokens_details") for u in present]
    if any(isinstance(d, Mapping) for d in details):
        keys = dict.fromkeys(k for d in details if isinstance(d, Mapping) for k in d)
        merged["completion_tokens_details"] = {
            key: sum(_count(d, key) for d in details if isinstance(d, Mapping)) for key in keys
        }
    return merged


def merge_answers(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Whole answers to the `split_n` requests as the one answer to the request they split: the first
    answer's id and fields, every answer's choices in order re-indexed 0..n-1, `merged_usage`."""
    merged = dict(answers[0])
    choices = [choice for answer in answers for choice in answer.get("choices") or []]
    merged["choices"] = [{**choice, "index": i} for i, choice in enumerate(choices)]
    usage = merged_usage([a.get("usage") for a in answers])
    if usage is not None:
        merged["usage"] = usage
    return merged


class StreamMerger:
    """Joins the SSE streams of the ``n`` `split_n` requests, fed as bytes arrive, into one stream.

    Each upstream's chunks pass on as they come with their choice's ``index`` set to the upstream's
    position and the id and ``created`` of the first chunk seen (one answer, one id); their usage
    (a ``choices: []`` chunk, or a ``usage`` on a choice's last chunk as llama-server's completions
    put it) and their ``[DONE]`` are kept back, and `finish` ends the stream with the usage of all
    (`merged_usage`, if the client asked for ``include_usage``) and one ``[DONE]``. Events that are
    not chunks (an in-stream error, say) pass on unchanged.
    """

    def __init__(self, n: int, *, include_usage: bool) -> None:
        self._parsers = [SseParser() for _ in range(n)]
        self._usages: list[dict[str, Any] | None] = [None] * n
        self._include_usage = include_usage
        self._first: dict[str, Any] | None = None  # the first chunk's head: one answer, one id

    @property
    def complete(self) -> bool:
        """Whether every upstream stream ended with its ``[DONE]`` (else one was cut)."""
        return all(parser.done for parser in self._parsers)

    def feed(self, index: int, data: bytes) -> bytes:
        """The events to send for bytes ``data`` of upstream ``index``'s stream (may be empty)."""
        out = bytearray()
        for event in self._parsers[index].feed(data):
            if event.is_done:
                continue
            try:
                chunk = _decode(event.data)
            except msgspec.DecodeError:
                chunk = None
            if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
                out += event.raw  # not a chunk: nothing to rewrite
                continue
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                self._usages[index] = usage
                chunk["usage"] = None
            if not chunk["choices"]:
                continue  # the upstream's usage chunk: the merged one comes at the end
            for choice in chunk["choices"]:
                if isinstance(choice, dict):
                    choice["index"] = index
            if self._first is None:
                self._first = {key: chunk[key] for key in _HEAD if key in chunk}
            chunk.update((key, self._first[key]) for key in ("id", "created") if key in self._first)
            out += encode_event(_encode(chunk))
        return bytes(out)

    def finish(self) -> bytes:
        """The stream's end: the merged usage chunk (if asked for), with the first chunk's ``id``,
        ``object``, ``created`` and ``model``, and ``data: [DONE]``."""
        usage = merged_usage(self._usages)
        if not (self._include_usage and usage is not None):
            return DONE_EVENT
        chunk = {**(self._first or {}), "choices": [], "usage": usage}
        return encode_event(_encode(chunk)) + DONE_EVENT
