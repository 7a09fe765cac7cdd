"""Rate limiting: headers on every answer, 429 past the limit, per caller, fixed windows."""

from __future__ import annotations

import math

import httpx
import pytest

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.ratelimit import RateLimiter
from janitor.emulator.server import start_emulator
from janitor.emulator.state import HubState

from .conftest import NOW, TIMEOUT, bearer, get_token

APP_TAGS = "/v2/namespaces/acme/repositories/app/tags"


def window_end(window: float) -> int:
    return math.ceil((math.floor(NOW.timestamp() / window) + 1) * window)


@pytest.mark.parametrize(
    ("style", "x_retry", "retry"),
    [("both", True, True), ("x-retry-after", True, False), ("retry-after", False, True)],
)
def test_headers_and_429(state: HubState, style: str, x_retry: bool, retry: bool) -> None:
    clock = ManualClock(NOW)
    config = EmulatorConfig(rate_limit=3, rate_window=60, retry_after_style=style, clock=clock)  # type: ignore[arg-type]
    with start_emulator(state, config) as emu, httpx.Client(base_url=emu.url, timeout=TIMEOUT) as c:
        end = window_end(60)
        for remaining in (2, 1, 0):
            response = c.get(APP_TAGS)
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "3"
            assert response.headers["x-ratelimit-remaining"] == str(remaining)
            assert response.headers["x-ratelimit-reset"] == str(end)
            assert "retry-after" not in response.headers
        limited = c.get(APP_TAGS)
        assert limited.status_code == 429
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert ("x-retry-after" in limited.headers) is x_retry
        assert ("retry-after" in limited.headers) is retry
        if x_retry:
            assert limited.headers["x-retry-after"] == str(end)
        if retry:
            assert limited.headers["retry-after"] == str(math.ceil(end - NOW.timestamp()))
        assert limited.json()["message"] == "Rate limit exceeded"
        # A new window starts afresh.
        clock.advance(seconds=60)
        again = c.get(APP_TAGS)
        assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "2"
        assert emu.log.count(path_regex="/tags$") == 5


def test_limits_are_per_token_and_auth_calls_count(state: HubState) -> None:
    config = EmulatorConfig(rate_limit=2, rate_window=60, clock=ManualClock(NOW))
    with start_emulator(state, config) as emu, httpx.Client(base_url=emu.url, timeout=TIMEOUT) as c:
        alice = bearer(get_token(c, "alice", "dckr_pat_alice"))  # anonymous address: 1 of 2
        bob = bearer(get_token(c, "bob", "dckr_pat_bob"))  # anonymous address: 2 of 2
        refused = c.post("/v2/auth/token", json={"identifier": "eve", "secret": "eve-pw"})
        assert refused.status_code == 429
        assert c.get(APP_TAGS).status_code == 429  # the anonymous address is spent
        assert [c.get(APP_TAGS, headers=alice).status_code for _ in range(3)] == [200, 200, 429]
        assert c.get(APP_TAGS, headers=bob).status_code == 200


def test_admin_calls_are_not_limited(state: HubState) -> None:
    config = EmulatorConfig(rate_limit=1, clock=ManualClock(NOW))
    with start_emulator(state, config) as emu, httpx.Client(base_url=emu.url, timeout=TIMEOUT) as c:
        c.get(APP_TAGS)
        assert c.get(APP_TAGS).status_code == 429
        log = c.get("/_emulator/log")
        assert log.status_code == 200 and "x-ratelimit-limit" not in log.headers


def test_unlimited_sends_no_rate_headers(client: httpx.Client) -> None:
    response = client.get(APP_TAGS)
    assert response.status_code == 200
    assert "x-ratelimit-limit" not in response.headers


def test_limiter_windows() -> None:
    limiter = RateLimiter()
    first = limiter.hit("k", now=119.5, limit=1, window=60)
    assert first.allowed and first.remaining == 0 and first.reset == 120 and first.retry_after == 1
    assert not limiter.hit("k", now=119.9, limit=1, window=60).allowed
    assert limiter.hit("k", now=120.0, limit=1, window=60).allowed


def test_config_is_validated() -> None:
    for bad in (
        {"rate_limit": 0},
        {"rate_window": 0},
        {"retry_after_style": "soon"},
        {"tag_shape": "x"},
        {"never_pulled_as": "never"},
        {"token_ttl": -1},
        {"latency": -1},
    ):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)  # type: ignore[arg-type]
