"""The configfs-tsm provider against a fake tree whose writer behaves like the kernel's tdx_guest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cocoon.attestation.quote import parse_quote
from cocoon.attestation.tdx_provider import ConfigfsTsmProvider, OsTsmFs
from cocoon.errors import QuoteError

REPORT_DATA = bytes(range(64))
REPORT_DATA_OFFSET = 568


class FakeTsm(OsTsmFs):
    """Real files in a tmp dir; mkdir populates attributes, writing inblob bumps generation, reading
    outblob yields the template quote with the written reportdata (as the QGS would sign it)."""

    def __init__(self, template: bytes, provider: bytes = b"tdx_guest\n") -> None:
        self.template = template
        self.provider = provider
        self.race = False
        self.fail_outblob = False
        self.entries: list[Path] = []

    def mkdir(self, path: Path) -> None:
        super().mkdir(path)
        self.entries.append(path)
        super().write(path / "provider", self.provider)
        super().write(path / "generation", b"0\n")

    def rmdir(self, path: Path) -> None:
        shutil.rmtree(path)  # configfs drops the attribute files itself

    def write(self, path: Path, data: bytes) -> None:
        super().write(path, data)
        if path.name == "inblob":
            self._bump(path.parent)

    def read(self, path: Path) -> bytes:
        if path.name != "outblob":
            return super().read(path)
        if self.fail_outblob:
            raise OSError(5, "Input/output error")
        inblob = super().read(path.parent / "inblob")
        quote = self.template[:REPORT_DATA_OFFSET] + inblob + self.template[REPORT_DATA_OFFSET + 64 :]
        if self.race:
            self._bump(path.parent)  # another writer slipped in between
        return quote

    def _bump(self, entry: Path) -> None:
        generation = int(super().read(entry / "generation"))
        super().write(entry / "generation", b"%d\n" % (generation + 1))


@pytest.fixture
def fake(vectors) -> FakeTsm:
    return FakeTsm(vectors.read("cocoon-tdx-quote.dat"))


def test_quote_carries_report_data_and_entry_is_removed(tmp_path: Path, fake: FakeTsm) -> None:
    provider = ConfigfsTsmProvider(tmp_path, fs=fake)
    quote = provider.quote(REPORT_DATA)
    assert parse_quote(quote).measurements.report_data == REPORT_DATA
    assert provider.name == "tdx"
    assert list(tmp_path.iterdir()) == []


def test_each_call_uses_a_fresh_entry(tmp_path: Path, fake: FakeTsm) -> None:
    provider = ConfigfsTsmProvider(tmp_path, fs=fake)
    provider.quote(REPORT_DATA)
    provider.quote(bytes(64))
    assert len(set(fake.entries)) == 2


def test_wrong_provider_rejected(tmp_path: Path, vectors) -> None:
    fs = FakeTsm(vectors.read("cocoon-tdx-quote.dat"), provider=b"sev_guest\n")
    with pytest.raises(QuoteError, match="provider is 'sev_guest', not 'tdx_guest'"):
        ConfigfsTsmProvider(tmp_path, fs=fs).quote(REPORT_DATA)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_write_detected(tmp_path: Path, fake: FakeTsm) -> None:
    fake.race = True
    with pytest.raises(QuoteError, match="written concurrently"):
        ConfigfsTsmProvider(tmp_path, fs=fake).quote(REPORT_DATA)


def test_io_error_is_quote_error(tmp_path: Path, fake: FakeTsm) -> None:
    fake.fail_outblob = True
    with pytest.raises(QuoteError, match="Input/output error"):
        ConfigfsTsmProvider(tmp_path, fs=fake).quote(REPORT_DATA)
    assert list(tmp_path.iterdir()) == []


def test_garbage_outblob_rejected(tmp_path: Path) -> None:
    with pytest.raises(QuoteError, match="not a TDX quote"):
        ConfigfsTsmProvider(tmp_path, fs=FakeTsm(b"\x00" * 700)).quote(REPORT_DATA)


def test_missing_configfs_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(QuoteError, match="run inside a TDX guest"):
        ConfigfsTsmProvider(tmp_path / "absent").quote(REPORT_DATA)


def test_plain_directory_is_not_configfs(tmp_path: Path) -> None:
    # Real file operations on an ordinary directory: mkdir works but no attributes appear.
    with pytest.raises(QuoteError, match="configfs-tsm report at"):
        ConfigfsTsmProvider(tmp_path).quote(REPORT_DATA)


def test_report_data_size_checked(tmp_path: Path, fake: FakeTsm) -> None:
    with pytest.raises(QuoteError, match="64 bytes"):
        ConfigfsTsmProvider(tmp_path, fs=fake).quote(bytes(32))
