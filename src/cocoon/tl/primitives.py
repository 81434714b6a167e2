"""TL's primitive encodings: little-endian numbers, length-prefixed padded strings, raw fixed bytes.

`Reader` checks every length against what is left before reading, so truncated or hostile input
raises `TLDecodeError` and nothing else. `Writer` range-checks what it is given and raises
`TLEncodeError` (a bug on our side) for values TL cannot carry.
"""

from __future__ import annotations

import struct

from cocoon.tl.errors import TLDecodeError, TLEncodeError

BOOL_TRUE = 0x997275B5
BOOL_FALSE = 0xBC799737
VECTOR_ID = 0x1CB5C415
"""Id of the boxed ``Vector t`` (``vector {t:Type} # [ t ] = Vector t``)."""

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
LONG_STRING = 0xFE
"""First byte of a string whose length (>= 254) follows in 3 bytes."""
MAX_STRING = (1 << 24) - 1


class Reader:
    """Reads TL primitives from a buffer, front to back."""

    __slots__ = ("_data", "pos")

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self.pos

    def _need(self, size: int, what: str) -> None:
        if size > len(self._data) - self.pos:
            raise TLDecodeError(
                f"TL value truncated: {what} needs {size} bytes at offset {self.pos}, "
                f"{len(self._data) - self.pos} left"
            )

    def raw(self, size: int, what: str = "raw bytes") -> bytes:
        """`size` bytes as they are (``int256`` is 32 of them)."""
        self._need(size, what)
        start = self.pos
        self.pos += size
        return self._data[start : self.pos]

    def i32(self) -> int:
        """A signed 32-bit ``int``."""
        self._need(4, "int")
        (value,) = _I32.unpack_from(self._data, self.pos)
        self.pos += 4
        return int(value)

    def u32(self) -> int:
        """An unsigned 32-bit value (constructor ids, ``#``, vector counts)."""
        self._need(4, "u32")
        (value,) = _U32.unpack_from(self._data, self.pos)
        self.pos += 4
        return int(value)

    def i64(self) -> int:
        """A signed 64-bit ``long``."""
        self._need(8, "long")
        (value,) = _I64.unpack_from(self._data, self.pos)
        self.pos += 8
        return int(value)

    def f64(self) -> float:
        """A ``double``."""
        self._need(8, "double")
        (value,) = _F64.unpack_from(self._data, self.pos)
        self.pos += 8
        return float(value)

    def tl_bytes(self) -> bytes:
        """A ``string``/``bytes`` body: 1-byte length (< 254) or 0xFE + 3-byte length, padded to 4.

        The padding's content is not checked, as the reference's parser does not check it either.
        """
        self._need(1, "string length")
        first = self._data[self.pos]
        if first < LONG_STRING:
            size, header = first, 1
        elif first == LONG_STRING:
            self._need(4, "long string length")
            size, header = int.from_bytes(self._data[self.pos + 1 : self.pos + 4], "little"), 4
        else:
            raise TLDecodeError(
                f"TL string at offset {self.pos} starts with 0xFF (lengths >= 2^24 unsupported)"
            )
        total = (header + size + 3) & ~3
        self._need(total, f"string of {size} bytes")
        start = self.pos + header
        self.pos += total
        return self._data[start : start + size]

    def end(self) -> None:
        """Raise if bytes are left over (every message must be read to its last byte)."""
        if self.pos != len(self._data):
            raise TLDecodeError(f"{len(self._data) - self.pos} unexpected bytes after the TL value")


class Writer:
    """Collects TL primitives; `getvalue` returns the bytes."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def getvalue(self) -> bytes:
        """Everything written so far."""
        return b"".join(self._parts)

    def raw(self, data: bytes | bytearray) -> None:
        """Append bytes as they are."""
        self._parts.append(bytes(data))

    def i32(self, value: int) -> None:
        """A signed 32-bit ``int``."""
        _check_int(value, -(1 << 31), (1 << 31) - 1, "int")
        self._parts.append(_I32.pack(value))

    def u32(self, value: int) -> None:
        """An unsigned 32-bit value."""
        _check_int(value, 0, (1 << 32) - 1, "u32")
        self._parts.append(_U32.pack(value))

    def i64(self, value: int) -> None:
        """A signed 64-bit ``long``."""
        _check_int(value, -(1 << 63), (1 << 63) - 1, "long")
        self._parts.append(_I64.pack(value))

    def f64(self, value: float) -> None:
        """A ``double`` (an `int` is accepted and converted)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TLEncodeError(f"TL double expects a float, got {type(value).__name__}")
        self._parts.append(_F64.pack(float(value)))

    def tl_bytes(self, data: bytes | bytearray) -> None:
        """A ``string``/``bytes`` body with its length prefix and zero padding."""
        size = len(data)
        if size < LONG_STRING:
            header = bytes((size,))
        elif size <= MAX_STRING:
            header = bytes((LONG_STRING,)) + size.to_bytes(3, "little")
        else:
            raise TLEncodeError(f"TL string of {size} bytes exceeds the {MAX_STRING}-byte limit")
        pad = -(len(header) + size) % 4
        self._parts.append(header + bytes(data) + b"\x00" * pad)


def _check_int(value: int, low: int, high: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TLEncodeError(f"TL {what} expects an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise TLEncodeError(f"TL {what} value {value} is outside [{low}, {high}]")
