"""The ``tdx`` quote provider: TDX quotes from inside a TD via Linux configfs-tsm.

Protocol (Documentation/ABI/testing/configfs-tsm): ``mkdir <root>/<name>`` creates a report entry
whose attribute files the kernel populates; write the 64-byte reportdata to ``inblob``; reading
``outblob`` makes the quoting service produce the quote. ``provider`` names the backend (must be
``tdx_guest``) and ``generation`` counts writes to the entry: if it changed between our write and our
read of ``outblob``, someone else wrote to the same entry and the quote may be for their reportdata.
We use a fresh entry per call (so only a misbehaving process could race us), then remove it.

File access goes through :class:`TsmFs` so tests can run the exact code path against a fake tree that
produces ``outblob`` like the kernel does. This module does blocking file I/O (a few ms in a TD):
call it from a worker thread in async code.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Protocol

from cocoon.attestation.quote import parse_quote
from cocoon.errors import DecodeError, QuoteError

DEFAULT_TSM_ROOT = Path("/sys/kernel/config/tsm/report")
TDX_PROVIDER = "tdx_guest"
REPORT_DATA_SIZE = 64


class TsmFs(Protocol):
    """The four file operations the configfs-tsm protocol needs."""

    def mkdir(self, path: Path) -> None:
        """Create a report entry."""
        ...

    def rmdir(self, path: Path) -> None:
        """Remove a report entry."""
        ...

    def write(self, path: Path, data: bytes) -> None:
        """Write an attribute in one go."""
        ...

    def read(self, path: Path) -> bytes:
        """Read a whole attribute."""
        ...


class OsTsmFs:
    """Real file operations (configfs removes an entry's attribute files with ``rmdir``)."""

    def mkdir(self, path: Path) -> None:
        """``mkdir`` the entry."""
        os.mkdir(path)

    def rmdir(self, path: Path) -> None:
        """``rmdir`` the entry."""
        os.rmdir(path)

    def write(self, path: Path, data: bytes) -> None:
        """Write ``data`` unbuffered, so the kernel sees one complete blob."""
        with open(path, "wb", buffering=0) as f:
            f.write(data)

    def read(self, path: Path) -> bytes:
        """Read the whole attribute."""
        with open(path, "rb") as f:
            return f.read()


class ConfigfsTsmProvider:
    """``QuoteProvider`` that asks the TD's kernel for a quote through configfs-tsm."""

    name = "tdx"

    def __init__(
        self, root: Path = DEFAULT_TSM_ROOT, *, fs: TsmFs | None = None, entry_prefix: str = "cocoon"
    ) -> None:
        self._root = Path(root)
        self._fs: TsmFs = fs if fs is not None else OsTsmFs()
        self._prefix = f"{entry_prefix}-{os.getpid()}"
        self._counter = itertools.count()

    def quote(self, report_data: bytes) -> bytes:
        """A TDX quote binding ``report_data`` (64 bytes); QuoteError says what failed and what to do."""
        if len(report_data) != REPORT_DATA_SIZE:
            raise QuoteError(f"reportdata must be {REPORT_DATA_SIZE} bytes, got {len(report_data)}")
        entry = self._root / f"{self._prefix}-{next(self._counter)}"
        self._mkdir(entry)
        try:
            raw = self._generate(entry, report_data)
        finally:
            # A stale entry is harmless (names are unique); do not hide the real error behind this one.
            with contextlib.suppress(OSError):
                self._fs.rmdir(entry)
        return _checked(raw, report_data)

    def _mkdir(self, entry: Path) -> None:
        try:
            self._fs.mkdir(entry)
        except OSError as exc:
            raise QuoteError(
                f"cannot create a configfs-tsm report at {entry} ({exc.strerror or exc}); run inside a TDX "
                "guest with configfs mounted (mount -t configfs none /sys/kernel/config) and write access"
            ) from exc

    def _generate(self, entry: Path, report_data: bytes) -> bytes:
        try:
            provider = self._fs.read(entry / "provider").strip().decode("ascii", "replace")
            if provider != TDX_PROVIDER:
                raise QuoteError(
                    f"configfs-tsm provider is {provider!r}, not {TDX_PROVIDER!r}: not a TDX guest"
                )
            self._fs.write(entry / "inblob", report_data)
            expected = self._generation(entry)
            raw = self._fs.read(entry / "outblob")
            if self._generation(entry) != expected:
                raise QuoteError(
                    f"configfs-tsm entry {entry} was written concurrently (generation changed); retry"
                )
        except OSError as exc:
            raise QuoteError(
                f"configfs-tsm report at {entry} failed ({exc.strerror or exc}); check that the TD's "
                "quote generation service (QGS) is reachable, then retry"
            ) from exc
        return raw

    def _generation(self, entry: Path) -> int:
        text = self._fs.read(entry / "generation").strip()
        try:
            return int(text)
        except ValueError as exc:
            raise QuoteError(f"configfs-tsm generation at {entry} is not a number: {text!r}") from exc


def _checked(raw: bytes, report_data: bytes) -> bytes:
    """The outblob must be a TDX quote carrying our reportdata."""
    try:
        quote = parse_quote(raw)
    except DecodeError as exc:
        raise QuoteError(f"configfs-tsm returned something that is not a TDX quote: {exc}") from exc
    if quote.measurements.report_data != report_data:
        raise QuoteError("configfs-tsm returned a quote for different reportdata; retry")
    return raw
