"""``--testnet`` on the command line: wallet addresses print in the testnet form, an address typed with
the other network's flag is refused with what to give instead, and ``cocoon init`` writes the setting."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cocoon.cli.main import cli
from cocoon.ton.address import Address, is_test_only

OWNER = Address(0, b"\x07" * 32)


def _address_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("address:")).split()[-1]


def test_wallet_addresses_print_in_the_form_of_the_network(tmp_path: Path) -> None:
    key = str(tmp_path / "w.key")
    made = CliRunner().invoke(cli, ["wallet", "new", "--key", key, "--testnet", "--owner", OWNER.raw])
    assert made.exit_code == 0, made.output
    assert is_test_only(_address_line(made.output))
    mainnet = CliRunner().invoke(cli, ["wallet", "show", "--key", key])
    testnet = CliRunner().invoke(cli, ["wallet", "show", "--key", key, "--testnet"])
    assert not is_test_only(_address_line(mainnet.output)) and is_test_only(_address_line(testnet.output))
    assert Address.parse(_address_line(mainnet.output)) == Address.parse(_address_line(testnet.output))


def test_an_address_of_the_other_network_is_refused(tmp_path: Path) -> None:
    key = str(tmp_path / "w.key")
    refused = CliRunner().invoke(
        cli, ["wallet", "new", "--key", key, "--testnet", "--owner", OWNER.friendly()]
    )
    assert refused.exit_code == 2 and "is a mainnet address but the chain is a testnet" in refused.output
    assert OWNER.friendly(testnet=True) in refused.output and not (tmp_path / "w.key").exists()
    root = CliRunner().invoke(cli, ["root", "show", "--root", OWNER.friendly(testnet=True)])
    assert root.exit_code == 2 and "is a testnet address but the chain is mainnet" in root.output


def test_init_writes_testnet_true() -> None:
    assert "\ntestnet = true\n" in CliRunner().invoke(cli, ["init", "worker", "--testnet"]).output
    assert "\ntestnet = false\n" in CliRunner().invoke(cli, ["init", "worker"]).output
