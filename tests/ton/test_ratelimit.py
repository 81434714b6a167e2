"""The request-rate arithmetic (token bucket, backoff schedule, rate-limit answers) and the choice of
a node's chain backend from its settings, all pure: time and randomness are arguments."""

from __future__ import annotations

import pytest

from cocoon.errors import ConfigError
from cocoon.ton.backend import KEYED_RATE_PER_S, KEYLESS_RATE_PER_S, ChainChoice, choose_chain
from cocoon.ton.ratelimit import TokenBucket, backoff_delay, is_rate_limited


def test_a_full_bucket_lets_a_burst_through_then_spaces_requests_by_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.reserve(10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    # the 4th and 5th at the same instant queue behind each other, 0.5 s apart
    assert bucket.reserve(10.0) == pytest.approx(0.5)
    assert bucket.reserve(10.0) == pytest.approx(1.0)


def test_the_bucket_refills_with_time_but_never_above_its_burst() -> None:
    bucket = TokenBucket(rate=1.0)
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.25) == pytest.approx(0.75)  # one second per request
    assert bucket.reserve(100.0) == 0.0  # long idle: full again, but only one token
    assert bucket.reserve(100.0) == pytest.approx(1.0)


def test_over_a_minute_a_bucket_admits_rate_times_sixty_plus_its_burst() -> None:
    bucket = TokenBucket(rate=KEYLESS_RATE_PER_S)
    now, admitted = 0.0, 0
    while True:
        wait = bucket.reserve(now)
        if now + wait > 60.0:
            break
        now += wait
        admitted += 1
    assert admitted == 61


def test_a_bucket_refuses_a_rate_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="rate above 0"):
        TokenBucket(rate=0)
    with pytest.raises(ValueError, match="at least one token"):
        TokenBucket(rate=1, burst=0.5)


def test_backoff_doubles_up_to_its_cap_with_jitter_between_half_and_all() -> None:
    assert [backoff_delay(n, 0.999999) for n in (1, 2, 3, 4)] == pytest.approx([1, 2, 4, 8], rel=1e-5)
    assert [backoff_delay(n, 0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff_delay(20, 0.5, cap_s=30.0) == pytest.approx(22.5)
    with pytest.raises(ValueError, match="count from 1"):
        backoff_delay(0, 0.5)


@pytest.mark.parametrize(
    ("status", "answer", "limited"),
    [
        (429, None, True),
        (429, {"ok": False, "error": "Ratelimit exceed", "code": 429}, True),
        (200, {"ok": False, "error": "Ratelimit exceed"}, True),
        (500, {"ok": False, "code": 429, "error": "?"}, True),
        (200, {"ok": True, "result": {"error": "ratelimit"}}, False),
        (500, {"ok": False, "error": "LITE_SERVER_UNKNOWN: cannot apply external message"}, False),
        (200, [], False),
    ],
)
def test_what_counts_as_too_many_requests(status: int, answer: object, limited: bool) -> None:
    assert is_rate_limited(status, answer) is limited


def test_auto_picks_lite_with_a_config_file_local_for_loopback_and_toncenter_else() -> None:
    assert choose_chain("auto", "", "", 0, "") is None
    assert choose_chain("auto", "", "", 0, "global.json") == ChainChoice("lite", ton_config="global.json")
    assert choose_chain("auto", "http://127.0.0.1:13000", "", 0, "") == ChainChoice(
        "local", url="http://127.0.0.1:13000"
    )
    public = choose_chain("auto", "https://testnet.toncenter.com", "", 0, "")
    assert public == ChainChoice(
        "toncenter", url="https://testnet.toncenter.com", rate_per_s=KEYLESS_RATE_PER_S
    )
    keyed = choose_chain("auto", "https://toncenter.com", "k", 0, "")
    assert keyed is not None and (keyed.api_key, keyed.rate_per_s) == ("k", KEYED_RATE_PER_S)
    own = choose_chain("toncenter", "http://localhost:8081", "", 25, "")
    assert own is not None and (own.backend, own.rate_per_s) == ("toncenter", 25)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lite", "", "", 0, ""), "needs ton_config"),
        (("toncenter", "", "", 0, ""), "needs chain_url"),
        (("toncenter", "toncenter.com", "", 0, ""), "not an http"),
        (("local", "ftp://127.0.0.1", "", 0, ""), "not an http"),
        (("auto", "https://toncenter.com", "", -1, ""), "chain_rate_per_s"),
        (("mainnet", "", "", 0, ""), "chain must be one of"),
    ],
)
def test_settings_that_cannot_work_are_clear_errors(
    args: tuple[str, str, str, float, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        choose_chain(*args)
