"""The API key file, the daily spend accounting and the origin policy, without HTTP."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cocoon.client.access import access_control, is_loopback, presented_secret
from cocoon.client.budget import DAY_S, SpendLedger, next_reset, utc_day
from cocoon.client.cors import OriginPolicy, normalize_origin
from cocoon.client.keys import (
    RECHECK_S,
    SECRET_PREFIX,
    ApiKey,
    KeyFile,
    add_key,
    hash_secret,
    keys_file_path,
    load_keys,
    revoke_key,
    save_keys,
)
from cocoon.clock import FakeClock
from cocoon.errors import ConfigError
from cocoon.roles import ClientConfig
from cocoon.usage import Usage
from cocoon.wire.messages import AnswerEnd

MIDNIGHT = 1_700_006_400.0  # 2023-11-15 00:00 UTC
assert MIDNIGHT % DAY_S == 0


def end(cost: int) -> AnswerEnd:
    return AnswerEnd(
        1, Usage(prompt_tokens=3, completion_tokens=2), adjusted_tokens=5, cost=cost, prompt_cost=0
    )


def test_a_new_key_is_stored_as_a_hash_in_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "api_keys.json"
    key, secret = add_key(path, name="app", daily_limit_nano=5_000, now=MIDNIGHT)
    assert secret.startswith(SECRET_PREFIX) and len(secret) > 40
    text = path.read_text()
    assert secret not in text and hash_secret(secret) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys(path).find(secret) == key == ApiKey("app", hash_secret(secret), 5_000, MIDNIGHT)
    assert load_keys(path).find(secret + "x") is None
    assert [p.name for p in tmp_path.iterdir()] == ["api_keys.json"]  # no temporary file left


def test_default_names_count_up_and_names_are_unique_even_after_revoking(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first, _ = add_key(path, now=0)
    second, secret = add_key(path, now=0)
    assert (first.name, second.name) == ("key-1", "key-2")
    revoke_key(path, "key-2")
    assert load_keys(path).find(secret) is None and load_keys(path).named("key-2") is not None
    with pytest.raises(ConfigError, match="exists already"):
        add_key(path, name="key-2", now=0)
    with pytest.raises(ConfigError, match="no API key named 'nope'"):
        revoke_key(path, "nope")
    with pytest.raises(ConfigError, match="not valid"):
        add_key(path, name="bad name", now=0)
    with pytest.raises(ConfigError, match="positive"):
        add_key(path, name="zero", daily_limit_nano=0, now=0)


def test_a_key_file_others_can_read_or_a_malformed_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    add_key(path, now=0)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keys(path)
    os.chmod(path, 0o600)
    path.write_text(json.dumps({"kind": "cocoon-api-keys", "version": 1, "keys": [{"name": "a"}]}))
    with pytest.raises(ConfigError, match="not a cocoon API key file"):
        load_keys(path)


def test_the_daemon_view_rereads_the_file_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    view = KeyFile(path)
    assert view.current().keys == ()
    _, secret = add_key(path, name="a", now=0)
    assert view.current().find(secret) is not None
    revoke_key(path, "a")
    assert view.current().find(secret) is None
    path.unlink()
    assert view.current().keys == ()


def test_the_daemon_looks_at_the_file_at_most_once_a_second(tmp_path: Path) -> None:
    path, clock = tmp_path / "api_keys.json", FakeClock()
    _, secret = add_key(path, name="a", now=0)
    access = access_control(ClientConfig(data_dir=str(tmp_path)), clock)  # the daemon's view
    keys = access.keys_in_force()
    assert keys is not None and keys.find(secret) is not None
    revoke_key(path, "a")
    _, second = add_key(path, name="b", now=0)
    clock.advance(RECHECK_S * 0.9)
    keys = access.keys_in_force()
    assert keys is not None and keys.find(secret) is not None and keys.find(second) is None  # not looked yet
    clock.advance(RECHECK_S * 0.1)
    keys = access.keys_in_force()
    assert keys is not None and keys.find(secret) is None and keys.find(second) is not None
    path.unlink()
    assert access.keys_in_force() is not None  # within the second: the keys it read
    clock.advance(RECHECK_S)
    assert access.keys_in_force() is None  # no file, no keys


def test_a_key_file_that_cannot_be_read_is_an_error_at_each_look(tmp_path: Path) -> None:
    path, clock = tmp_path / "api_keys.json", FakeClock()
    view = KeyFile(path, clock)
    assert view.current().keys == ()
    clock.advance(RECHECK_S)
    path.write_text("{")
    os.chmod(path, 0o600)
    for _ in range(2):  # a failed look is no look: the next call looks again
        with pytest.raises(ConfigError, match="not a cocoon API key file"):
            view.current()


def test_the_key_file_lives_in_the_data_dir_unless_set() -> None:
    assert keys_file_path("/d", "") == Path("/d/api_keys.json")
    assert keys_file_path("/d", "/k.json") == Path("/k.json")
    assert keys_file_path("", "") is None


def test_spend_counts_per_utc_day_and_the_limit_resets_at_midnight() -> None:
    key = ApiKey("app", "0" * 64, daily_limit_nano=10_000)
    ledger = SpendLedger()
    now = MIDNIGHT + 3600
    assert ledger.quota_exceeded(key, now) is None
    ledger.finished("app", end(9_999), now)
    assert ledger.quota_exceeded(key, now) is None  # under the limit: admitted, even if it ends over
    ledger.finished("app", end(4_000), now)
    exceeded = ledger.quota_exceeded(key, now + 60)
    assert exceeded is not None and exceeded.spent_nano == 13_999
    assert exceeded.resets_at == MIDNIGHT + DAY_S and exceeded.retry_after_s == DAY_S - 3660
    assert "resets at 2023-11-16 00:00 UTC (in 22 h 59 min)" in exceeded.message()
    assert ledger.quota_exceeded(key, MIDNIGHT + DAY_S - 0.5) is not None
    assert ledger.quota_exceeded(key, MIDNIGHT + DAY_S) is None
    snap = ledger.snapshot((key,), MIDNIGHT + DAY_S)["app"]
    assert snap["spent_nano"] == 13_999 and snap["spent_today_nano"] == 0 and snap["succeeded"] == 2
    assert ledger.quota_exceeded(ApiKey("free", "0" * 64), now) is None


def test_day_arithmetic() -> None:
    assert utc_day(MIDNIGHT) == utc_day(MIDNIGHT + DAY_S - 1) == utc_day(MIDNIGHT + DAY_S) - 1
    assert next_reset(MIDNIGHT) == MIDNIGHT + DAY_S == next_reset(MIDNIGHT + DAY_S - 1)


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        ("https://App.example.com/", "https://app.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://a.example:443", "https://a.example"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_configured_origins_match_what_browsers_send(configured: str, sent: str) -> None:
    assert normalize_origin(configured) == sent
    assert OriginPolicy.from_config([configured]).allows(sent)
    assert not OriginPolicy.from_config([configured]).allows(sent + "0")


@pytest.mark.parametrize("bad", ["app.example.com", "https://a.example/path", "ftp://a", "*"])
def test_an_origin_that_is_not_one_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="not an origin"):
        normalize_origin(bad)


def test_loopback_and_credentials() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost"]))
    assert is_loopback("::ffff:127.0.0.1") and is_loopback("[::ffff:127.0.0.1]")  # IPv4-mapped
    assert not any(map(is_loopback, ["0.0.0.0", "", "::", "192.168.1.2", "[::ffff:8.8.8.8]", "example.com"]))
    assert not is_loopback("LOCALHOST") and not is_loopback("localhost.")  # only the exact name
    assert presented_secret("Bearer sk-1") == presented_secret("bearer  sk-1 ") == "sk-1"
    assert presented_secret("Basic dXNlcjpzay0y") == "sk-2"  # user:sk-2
    assert presented_secret("Basic !!") is None and presented_secret("") is None


def test_listening_beyond_loopback_needs_an_active_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs API keys, but no key file is configured"):
        access_control(ClientConfig(host="0.0.0.0"))
    config = ClientConfig(host="0.0.0.0", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="holds no active key"):
        access_control(config)
    add_key(tmp_path / "api_keys.json", name="a", now=0)
    assert access_control(config).keys_required
    revoke_key(tmp_path / "api_keys.json", "a")
    with pytest.raises(ConfigError, match="holds no active key"):
        access_control(config)
    assert not access_control(ClientConfig(data_dir=str(tmp_path))).keys_required


def test_a_bad_origin_or_key_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an origin"):
        access_control(ClientConfig(allowed_origins=["example.com"]))
    save_keys(tmp_path / "api_keys.json", load_keys(tmp_path / "api_keys.json"))
    (tmp_path / "api_keys.json").write_text("{")
    with pytest.raises(ConfigError, match="not a cocoon API key file"):
        access_control(ClientConfig(data_dir=str(tmp_path)))
