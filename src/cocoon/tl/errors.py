"""Errors of the TL layer, under the project's single exception tree (`cocoon.errors`)."""

from __future__ import annotations

from cocoon.errors import CocoonError, DecodeError, LocalProtocolError


class TLDecodeError(DecodeError):
    """Bytes from a peer are not a valid TL value, frame or PoW message; close the connection."""


class TLEncodeError(LocalProtocolError):
    """A value cannot be encoded (wrong Python type, out of range, missing flag field): a bug on our
    side; nothing was sent."""


class TLSchemaError(LocalProtocolError):
    """A TL schema text does not parse or is inconsistent (duplicate name or id, unknown type)."""


class PowNotFoundError(CocoonError):
    """`pow.solve` tried every nonce it was allowed to (``limit``) without finding a valid one; call it
    again from where it stopped."""
