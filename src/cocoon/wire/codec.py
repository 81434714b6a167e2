"""The message codec: the only module that knows messages travel as msgpack.

Swapping the serialization (for example to TON's TL for wire interop with the reference) means
replacing this module only. Decoding validates types and constraints, so a decoded `Message` is
well-formed; anything else raises `cocoon.errors.DecodeError`.
"""

from __future__ import annotations

import msgspec

from cocoon.errors import DecodeError, LocalProtocolError
from cocoon.wire.frames import HEADER_SIZE, MAX_PAYLOAD, encode_frame
from cocoon.wire.messages import Message

_encoder = msgspec.msgpack.Encoder()
_EMPTY_HEADER = bytes(HEADER_SIZE)
_decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(Message)


def encode_message(message: Message) -> bytes:
    """Serialize one message (without a frame header)."""
    return _encoder.encode(message)


def encode_message_frame(message: Message, max_payload: int = MAX_PAYLOAD) -> bytes:
    """Serialize one message and prefix it with its frame header."""
    return encode_frame(_encoder.encode(message), max_payload)


def encode_message_into(message: Message, buffer: bytearray, max_payload: int = MAX_PAYLOAD) -> None:
    """Append one framed message to `buffer` without intermediate copies.

    Raises `LocalProtocolError` (leaving `buffer` as it was) if the message exceeds `max_payload`.
    """
    start = len(buffer)
    buffer += _EMPTY_HEADER
    _encoder.encode_into(message, buffer, start + HEADER_SIZE)
    size = len(buffer) - start - HEADER_SIZE
    if size > max_payload:
        del buffer[start:]
        raise LocalProtocolError(
            f"{type(message).__name__} of {size} bytes exceeds the {max_payload}-byte frame limit; "
            "split the data into smaller messages"
        )
    buffer[start : start + HEADER_SIZE] = size.to_bytes(HEADER_SIZE, "big")


def decode_message(payload: bytes) -> Message:
    """Parse one frame payload into a message; raises `DecodeError` on anything malformed.

    Malformed msgpack, an unknown message tag, a wrong field type and a violated constraint (for
    example a negative token count) all raise `DecodeError`, naming the offending position.
    """
    try:
        return _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise DecodeError(
            f"message does not match the protocol ({exc}); the peer runs an incompatible version"
        ) from exc
    except msgspec.DecodeError as exc:
        raise DecodeError(f"message is not valid msgpack ({exc}); the peer is misbehaving") from exc
