"""OpenAI tool calls as engines write them: the call object, its deterministic id, compact arguments.

Shared by the fake engine and the built-in engine's front (`cocoon.engine.llama_front`), which both
produce tool calls themselves.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def tool_call_id(name: str, arguments: str, index: int) -> str:
    """The id of choice ``index``'s call: ``call_`` + 24 hex of SHA-256(name + arguments + index)."""
    return "call_" + hashlib.sha256(f"{name}{arguments}{index}".encode()).hexdigest()[:24]


def tool_call(name: str, arguments: str, index: int) -> dict[str, Any]:
    """One whole OpenAI tool call of choice ``index``."""
    return {
        "id": tool_call_id(name, arguments, index),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
