"""The offer's context length and endpoints on the wire: round trip, older peers, bounds."""

from __future__ import annotations

import msgspec
import pytest

from cocoon.errors import DecodeError
from cocoon.wire.codec import decode_message, encode_message
from cocoon.wire.control import WorkerLoad, WorkerType, WorkerTypes
from cocoon.wire.messages import QueryAnswer, WorkerState

STATE = WorkerState(True, "m", 1500, 4, 1, "EQowner", 4096, ("/v1/chat/completions", "/v1/completions"))
LOAD = WorkerLoad(1500, 1, 4, "abcd", 4096, ("/v1/chat/completions",), 30_000_000, 30_000_000)
TYPES = WorkerTypes((WorkerType("m", 1, 1500, 1500, 1, 4, (LOAD,), 4096, ("/v1/chat/completions",)),))


@pytest.mark.parametrize("message", [STATE, QueryAnswer(7, TYPES)])
def test_new_fields_round_trip(message: object) -> None:
    assert decode_message(encode_message(message)) == message  # type: ignore[arg-type]


def test_an_older_worker_state_decodes_with_unknown_capabilities() -> None:
    state = decode_message(msgspec.msgpack.encode([31, True, "m", 1000, 4, 0, "EQowner"]))
    assert isinstance(state, WorkerState)
    assert state.context_length == 0 and state.endpoints == ()


def test_an_older_proxys_worker_types_decode_without_capabilities_or_prices() -> None:
    raw = msgspec.msgpack.encode([11, 7, [101, [["m", 1, 1000, 1000, 0, 4, [[1000, 0, 4]]]]]])
    answer = decode_message(raw)
    assert isinstance(answer, QueryAnswer) and isinstance(answer.body, WorkerTypes)
    (t,) = answer.body.types
    assert t.context_length == 0 and t.endpoints == ()
    assert t.worker_loads == (WorkerLoad(1000, 0, 4),)
    assert t.worker_loads[0].prompt_nano_per_mtok == 0 and t.worker_loads[0].worker_id == ""


@pytest.mark.parametrize(
    ("context_length", "endpoints", "why"),
    [
        (-1, [], ">= 0"),
        (1 << 31, [], "<= 1073741824"),
        (0, ["/v1/x" * 20], "length <= 64"),
        (0, [f"/v1/e{i}" for i in range(17)], "length <= 16"),
    ],
)
def test_a_worker_cannot_declare_unbounded_capabilities(
    context_length: int, endpoints: list[str], why: str
) -> None:
    raw = msgspec.msgpack.encode([31, True, "m", 1000, 4, 0, "", context_length, endpoints])
    with pytest.raises(DecodeError, match=why):
        decode_message(raw)
