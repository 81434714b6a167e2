"""A bounds-checked little-endian reader for binary attestation structures.

Every read names the field it reads, so a truncated or corrupt quote fails with a
:class:`~cocoon.errors.DecodeError` that says which field at which offset was bad, and never with an
``IndexError``/``struct.error`` from deep inside a parser.
"""

from __future__ import annotations

from cocoon.errors import DecodeError

_HINT = "the quote is truncated or corrupt; obtain a fresh quote from the peer"


class Cursor:
    """Reads fields from ``data[offset:end]``; offsets in messages are absolute (from the quote start)."""

    __slots__ = ("_data", "_end", "_offset", "_what")

    def __init__(self, data: bytes, *, offset: int = 0, end: int | None = None, what: str = "quote") -> None:
        self._data = data
        self._offset = offset
        self._end = len(data) if end is None else end
        self._what = what

    @property
    def offset(self) -> int:
        """Absolute offset of the next unread byte."""
        return self._offset

    @property
    def remaining(self) -> int:
        """Bytes left before this cursor's end."""
        return self._end - self._offset

    def fail(self, field: str, problem: str, offset: int | None = None) -> DecodeError:
        """Build the error for ``field`` (at ``offset``, default: the current one); the caller raises it."""
        at = self._offset if offset is None else offset
        return DecodeError(f"{self._what}: {field} at offset {at}: {problem}; {_HINT}")

    def take(self, size: int, field: str) -> bytes:
        """The next ``size`` bytes, or DecodeError if fewer are left."""
        if size < 0 or size > self.remaining:
            raise self.fail(field, f"needs {size} bytes but only {self.remaining} remain")
        start = self._offset
        self._offset += size
        return self._data[start : self._offset]

    def u16(self, field: str, allowed: tuple[int, ...] | None = None) -> int:
        """A little-endian unsigned 16-bit integer, optionally required to be one of ``allowed``."""
        return self._uint(2, field, allowed)

    def u32(self, field: str, allowed: tuple[int, ...] | None = None) -> int:
        """A little-endian unsigned 32-bit integer, optionally required to be one of ``allowed``."""
        return self._uint(4, field, allowed)

    def _uint(self, size: int, field: str, allowed: tuple[int, ...] | None) -> int:
        start = self._offset
        value = int.from_bytes(self.take(size, field), "little")
        if allowed is not None and value not in allowed:
            wanted = " or ".join(str(a) for a in allowed)
            raise self.fail(field, f"is {value}, expected {wanted}", start)
        return value

    def block(self, size: int, field: str) -> Cursor:
        """A sub-cursor over the next ``size`` bytes (a length-prefixed block); advances past it."""
        if size < 0 or size > self.remaining:
            raise self.fail(field, f"declares {size} bytes but only {self.remaining} remain")
        sub = Cursor(self._data, offset=self._offset, end=self._offset + size, what=self._what)
        self._offset += size
        return sub

    def since(self, start: int) -> bytes:
        """The bytes consumed from absolute offset ``start`` up to the current offset."""
        return self._data[start : self._offset]

    def finish(self, field: str) -> None:
        """Require that the block was consumed exactly (no unexplained bytes inside a declared size)."""
        if self.remaining:
            raise self.fail(field, f"has {self.remaining} unexpected trailing bytes")
