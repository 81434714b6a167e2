"""`cocoon client keys add|list|revoke` on a key file in the data dir."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cocoon.cli.main import cli
from cocoon.client.keys import load_keys


def test_add_list_and_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    where = ["--data-dir", str(tmp_path)]
    added = runner.invoke(cli, ["client", "keys", "add", "--name", "app", "--daily-limit-ton", "0.5", *where])
    assert added.exit_code == 0, added.output
    secret = added.output.strip().splitlines()[-1]
    key = load_keys(tmp_path / "api_keys.json").find(secret)
    assert key is not None and key.name == "app" and key.daily_limit_nano == 500_000_000
    listed = runner.invoke(cli, ["client", "keys", "list", *where])
    assert listed.exit_code == 0 and "app\t0.5 TON/day" in listed.output and secret not in listed.output
    assert runner.invoke(cli, ["client", "keys", "revoke", "app", *where]).exit_code == 0
    assert load_keys(tmp_path / "api_keys.json").find(secret) is None
    assert "REVOKED" in runner.invoke(cli, ["client", "keys", "list", *where]).output


def test_errors_say_what_to_do(tmp_path: Path) -> None:
    runner = CliRunner()
    nowhere = runner.invoke(cli, ["client", "keys", "list"], env={"COCOON_DATA_DIR": None})
    assert nowhere.exit_code != 0 and "pass --data-dir" in nowhere.output
    unknown = runner.invoke(cli, ["client", "keys", "revoke", "nope", "--data-dir", str(tmp_path)])
    assert unknown.exit_code != 0 and "no API key named 'nope'" in str(unknown.exception)  # main() prints it
    bad = runner.invoke(
        cli, ["client", "keys", "add", "--daily-limit-ton", "lots", "--data-dir", str(tmp_path)]
    )
    assert bad.exit_code != 0 and "--daily-limit-ton" in bad.output
