"""The shared limiter's arithmetic, on a fake clock: far from the limit it never sleeps; near
it, it spreads the calls over the window; a simulated fixed-window Hub sees no 429."""

from __future__ import annotations

import math

import pytest

from janitor.hub.models import RateLimitState
from janitor.hub.ratelimit import RateLimiter, parse_rate_limit, retry_wait

from .clock import FakeClock


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }


def make(clock: FakeClock, **kwargs: float) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


class TestHeaders:
    def test_no_headers_no_state(self) -> None:
        assert parse_rate_limit({}, 100.0) is None

    def test_unix_reset(self) -> None:
        state = parse_rate_limit(headers(180, 17, 1_700_000_060), 1_700_000_000.0)
        assert state == RateLimitState(limit=180, remaining=17, reset=1_700_000_060.0)

    def test_reset_given_as_seconds_from_now(self) -> None:
        state = parse_rate_limit(headers(10, 3, 42), 1_700_000_000.0)
        assert state is not None and state.reset == 1_700_000_042.0

    def test_garbage_is_ignored(self) -> None:
        state = parse_rate_limit({"x-ratelimit-limit": "many", "x-ratelimit-remaining": "nan"}, 0)
        assert state is None

    def test_the_registry_s_form_with_its_window(self) -> None:
        """Docker's registry: ``ratelimit-limit: 100;w=21600`` (pulls per 6 h, no reset)."""
        state = parse_rate_limit(
            {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600"}, 0
        )
        assert state == RateLimitState(limit=100, remaining=76, reset=None)
        bare = parse_rate_limit({"ratelimit-limit": "2500", "ratelimit-remaining": "0"}, 0)
        assert bare == RateLimitState(limit=2500, remaining=0, reset=None)
        assert parse_rate_limit({"ratelimit-remaining": "lots;w=1"}, 0) is None

    def test_hub_s_headers_win_over_the_registry_s(self) -> None:
        both = {**headers(180, 17, 1_700_000_060), "ratelimit-remaining": "3;w=21600"}
        state = parse_rate_limit(both, 1_700_000_000.0)
        assert state is not None and state.remaining == 17

    def test_x_retry_after_is_unix_time(self) -> None:
        assert retry_wait({"x-retry-after": "1700000030"}, 1_700_000_000.0) == 30.0

    def test_retry_after_is_seconds(self) -> None:
        assert retry_wait({"retry-after": "12"}, 1_700_000_000.0) == 12.0

    def test_retry_after_http_date(self) -> None:
        now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
        assert retry_wait({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, now) == 30.0

    def test_both_take_the_later(self) -> None:
        wait = retry_wait({"x-retry-after": "1700000005", "retry-after": "9"}, 1_700_000_000.0)
        assert wait == 9.0

    def test_past_time_is_no_wait(self) -> None:
        assert retry_wait({"x-retry-after": "1600000000"}, 1_700_000_000.0) == 0.0

    def test_nothing_readable(self) -> None:
        assert retry_wait({"retry-after": "soon"}, 1_700_000_000.0) is None
        assert retry_wait({}, 1_700_000_000.0) is None


class TestLimiter:
    def test_never_sleeps_without_headers(self) -> None:
        clock = FakeClock()
        limiter = make(clock)
        for _ in range(1000):
            limiter.acquire()
            limiter.observe({})
        assert clock.sleeps == []

    def test_never_sleeps_far_from_the_limit(self) -> None:
        clock = FakeClock()
        limiter = make(clock)
        reset = clock() + 60
        for remaining in range(999, 900, -1):
            limiter.acquire()
            limiter.observe(headers(1000, remaining, reset))
        assert clock.sleeps == []

    def test_spreads_the_last_calls_over_the_window(self) -> None:
        clock = FakeClock()
        limiter = make(clock, reset_margin=0.0)
        reset = clock() + 10
        limiter.acquire()
        limiter.observe(headers(100, 10, reset))  # low water (20) reached
        gaps = []
        for remaining in range(9, 0, -1):
            before = clock()
            limiter.acquire()
            gaps.append(clock() - before)
            limiter.observe(headers(100, remaining, reset))
        # 10 calls left for 10 s: about one call a second, never all at once
        assert all(g > 0.5 for g in gaps)
        assert clock() < reset

    def test_waits_for_the_reset_when_used_up(self) -> None:
        clock = FakeClock()
        limiter = make(clock, reset_margin=0.25)
        reset = clock() + 30
        limiter.acquire()
        limiter.observe(headers(5, 0, reset))
        limiter.acquire()
        assert clock() == pytest.approx(reset + 0.25)

    def test_counts_calls_in_flight(self) -> None:
        clock = FakeClock()
        limiter = make(clock)
        reset = clock() + 60
        limiter.acquire()
        limiter.observe(headers(10, 6, reset))  # 6 left
        for _ in range(5):
            limiter.acquire()  # 5 sent, none answered yet: the estimate is 1 left
        limiter.observe(headers(10, 5, reset))  # one answer; 4 still in flight -> 1 left
        before = clock()
        limiter.acquire()  # the last one of the window: spaced out, not sent at once
        assert clock() > before
        limiter.acquire()  # nothing left: waits for the reset
        assert clock() >= reset + 0.25

    def test_late_answer_from_an_old_window_is_ignored(self) -> None:
        clock = FakeClock()
        limiter = make(clock)
        limiter.acquire()
        limiter.observe(headers(100, 99, clock() + 60))
        limiter.acquire()
        limiter.observe(headers(100, 0, clock() - 1))  # stale: its window already ended
        limiter.acquire()
        assert clock.sleeps == []

    def test_block_until_holds_every_caller(self) -> None:
        clock = FakeClock()
        limiter = make(clock)
        limiter.block_until(clock() + 7)
        waited = limiter.acquire()
        assert waited == pytest.approx(7)
        assert limiter.acquire() == 0.0

    def test_state_is_the_last_seen_headers(self) -> None:
        clock = FakeClock()
        limiter = make(clock)
        limiter.acquire()
        limiter.observe(headers(50, 42, 1_700_000_100))
        assert limiter.state == RateLimitState(50, 42, 1_700_000_100.0)


class FixedWindowHub:
    """Hub's limit as the emulator implements it: windows aligned on multiples of ``window``."""

    def __init__(self, clock: FakeClock, limit: int, window: float) -> None:
        self.clock, self.limit, self.window = clock, limit, window
        self.start: float | None = None
        self.count = 0
        self.refused = 0

    def call(self) -> dict[str, str]:
        now = self.clock()
        start = math.floor(now / self.window) * self.window
        if start != self.start:
            self.start, self.count = start, 0
        self.count += 1
        if self.count > self.limit:
            self.refused += 1
        return headers(self.limit, max(0, self.limit - self.count), int(start + self.window))


@pytest.mark.parametrize(("limit", "calls"), [(20, 130), (7, 50), (100, 1000)])
def test_a_long_listing_meets_no_429_and_uses_each_window(limit: int, calls: int) -> None:
    window = 10.0
    clock = FakeClock(start=1_700_000_000.0)  # a window boundary
    hub = FixedWindowHub(clock, limit, window)
    limiter = make(clock)
    for _ in range(calls):
        limiter.acquire()
        clock.advance(0.005)  # the call's own latency
        limiter.observe(hub.call())
    assert hub.refused == 0
    windows = (clock() - 1_700_000_000.0) / window
    # the minimum is (calls - 1) // limit whole windows before the last call can start
    assert (calls - 1) // limit <= windows <= math.ceil(calls / limit) + 0.1
