"""Pacing by Docker Hub's ``X-RateLimit-*`` headers, shared by every thread of one client.

Hub tells each answer how many calls are left in the current window (``X-RateLimit-Remaining``)
and when the window ends (``X-RateLimit-Reset``, unix time). The limiter keeps an *estimate* of
the calls left: it takes one off for every call it lets through (so calls in flight are counted
before their answers arrive) and corrects the estimate from every answer. Far from the limit it
never sleeps. Once the estimate falls to the low-water mark it spreads the remaining calls evenly
over the time left until the reset, and when none is left it waits for the reset. A long run
therefore uses each window fully and meets no 429; a 429 that happens anyway (another process
on the same account, a clock far off) blocks every thread until Hub's retry time.

The clock and the sleep function are injected, so the arithmetic is tested without waiting.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
from collections.abc import Callable, Mapping

from janitor.hub.models import RateLimitState

__all__ = ["DEFAULT_MAX_WAIT", "RateLimiter", "WaitTooLong", "parse_rate_limit", "retry_wait"]

log = logging.getLogger("janitor.hub")

# The longest wait janitor accepts (JANITOR_MAX_WAIT_SECONDS): past it a call fails at once.
DEFAULT_MAX_WAIT = 900.0

# A reset value below this is a number of seconds from now, not a unix time (2001-09-09).
_UNIX_TIME_FLOOR = 1_000_000_000
# Two reset values closer than this belong to the same window.
_SAME_WINDOW = 0.5


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _instant(value: str | None, now: float) -> float | None:
    """A unix time from a header holding a unix time or (defensively) a delay in seconds."""
    number = _number(value)
    if number is None:
        return None
    return number if number >= _UNIX_TIME_FLOOR else now + max(0.0, number)


_WHY = {
    "blocked": "it answered 429",
    "exhausted": "its rate-limit window is used up",
    "spacing": "its rate-limit window has too few calls left",
}


class WaitTooLong(Exception):
    """The other side asks for a wait longer than the longest janitor accepts."""

    def __init__(self, until: float, why: str) -> None:
        self.until = until
        self.why = why
        super().__init__(why)


def _quota(value: str | None) -> float | None:
    """The count of a registry's ``RateLimit-*`` header: ``100;w=21600`` (calls; window in
    seconds) as Docker's registry sends it, or a bare number."""
    if value is None:
        return None
    return _number(value.split(";", 1)[0])


def parse_rate_limit(headers: Mapping[str, str], now: float) -> RateLimitState | None:
    """The rate-limit headers of one answer, or None when it carries none: Hub's
    ``X-RateLimit-Limit/-Remaining/-Reset``, else the registry's ``RateLimit-Limit`` and
    ``RateLimit-Remaining`` (``100;w=21600``; they name no reset time)."""
    limit = _number(headers.get("x-ratelimit-limit"))
    remaining = _number(headers.get("x-ratelimit-remaining"))
    reset = _instant(headers.get("x-ratelimit-reset"), now)
    if limit is None and remaining is None and reset is None:
        limit = _quota(headers.get("ratelimit-limit"))
        remaining = _quota(headers.get("ratelimit-remaining"))
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitState(
        limit=int(limit) if limit is not None and limit > 0 else None,
        remaining=max(0, int(remaining)) if remaining is not None else None,
        reset=reset,
    )


def backoff_delay(
    attempt: int,
    *,
    base: float,
    max_wait: float,
    rng: random.Random,
    now: float,
    headers: Mapping[str, str] | None = None,
) -> float:
    """Exponential backoff with jitter for retry ``attempt`` (1, 2, ...), capped at 30 s and
    ``max_wait``; never shorter than a retry time the answer's ``headers`` ask for (which may
    exceed ``max_wait``: the caller decides whether to wait that long)."""
    delay = min(max_wait, 30.0, base * 2 ** (attempt - 1))
    delay = delay / 2 + rng.uniform(0, delay / 2)
    if headers is not None:
        asked = retry_wait(headers, now)
        if asked is not None:
            delay = max(delay, asked)
    return delay


def retry_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait after a 429, from ``X-Retry-After`` (unix time, older docs) and/or
    ``Retry-After`` (seconds or an HTTP date, newer docs); the later of the two when both
    are present, None when neither is readable."""
    waits: list[float] = []
    x_retry = _instant(headers.get("x-retry-after"), now)
    if x_retry is not None:
        waits.append(x_retry - now)
    retry_after = headers.get("retry-after")
    seconds = _number(retry_after)
    if seconds is not None:
        waits.append(seconds)
    elif retry_after:
        try:
            when = email.utils.parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            waits.append(when.timestamp() - now)
    if not waits:
        return None
    return max(0.0, *waits)


class RateLimiter:
    """One per client; thread safe. ``acquire()`` before each call, then exactly one of
    ``observe()`` (an answer arrived) or ``release()`` (no answer). A wait longer than
    ``max_wait`` is never started: ``acquire()`` raises ``WaitTooLong`` instead."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        max_wait: float = DEFAULT_MAX_WAIT,
        low_water: float = 0.2,
        reset_margin: float = 0.25,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._low_water = low_water
        self._reset_margin = reset_margin
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._remaining: int | None = None  # estimate, in-flight calls already taken off
        self._reset: float | None = None
        self._window: float | None = None  # learnt from consecutive reset values
        self._last_sent: float | None = None
        self._blocked_until = 0.0
        self._in_flight = 0
        self._announced: float | None = None  # the reset whose pacing was logged at INFO
        self._seen = RateLimitState()

    @property
    def state(self) -> RateLimitState:
        """The headers of the latest answer that had any."""
        with self._lock:
            return self._seen

    # -- before a call -------------------------------------------------------------------------

    def acquire(self) -> float:
        """Wait until a call may be sent without exceeding the limit; returns seconds waited.
        Raises ``WaitTooLong`` (taking no slot) when that is further off than ``max_wait``."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay, why = self._delay(now)
                if delay <= 0:
                    if self._remaining is not None:
                        self._remaining -= 1
                    self._in_flight += 1
                    self._last_sent = now
                    return waited
                if delay > self._max_wait:
                    raise WaitTooLong(now + delay, _WHY[why])
                loud = why != "spacing" or delay >= 1.0 or self._announced != self._reset
                if why == "spacing":
                    self._announced = self._reset
                remaining, reset = self._remaining, self._reset
            if loud or log.isEnabledFor(logging.DEBUG):
                text = self._describe(why, delay, remaining, reset, now)
                log.log(logging.INFO if loud else logging.DEBUG, text)
            self._sleep(delay)
            waited += delay

    def _describe(
        self, why: str, delay: float, remaining: int | None, reset: float | None, now: float
    ) -> str:
        if why == "blocked":
            return f"rate limited by Docker Hub: waiting {delay:.1f} s before the next call"
        if why == "exhausted":
            return f"rate limit window used up: waiting {delay:.1f} s for it to reset"
        left = f"{reset - now:.1f} s" if reset is not None else "unknown time"
        return (
            f"pacing Docker Hub calls: {remaining} left in this window, which resets in {left}; "
            f"next call in {delay:.2f} s"
        )

    def _roll(self, now: float) -> None:
        """The window the estimate belongs to has ended: a fresh one holds ``limit`` calls, less
        those still in flight (they may land in it)."""
        assert self._reset is not None
        if self._window:
            while self._reset <= now:
                self._reset += self._window
        else:
            self._reset = None
        if self._limit is not None:
            self._remaining = self._limit - self._in_flight

    def _delay(self, now: float) -> tuple[float, str]:
        if now < self._blocked_until:
            return self._blocked_until - now, "blocked"
        if self._reset is not None and now >= self._reset + self._reset_margin:
            self._roll(now)
        if self._limit is None or self._remaining is None:
            return 0.0, ""
        if self._remaining <= 0:
            if self._reset is None:
                # Nothing tells when the window ends; let the call go and learn from its answer.
                return 0.0, ""
            return self._reset + self._reset_margin - now, "exhausted"
        low = max(1, math.ceil(self._limit * self._low_water))
        if self._remaining > low or self._reset is None or self._last_sent is None:
            return 0.0, ""
        spacing = max(0.0, self._reset - now) / self._remaining
        return self._last_sent + spacing - now, "spacing"

    # -- after a call --------------------------------------------------------------------------

    def release(self) -> None:
        """The call ended without an answer (transport error)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Correct the estimate from an answer's headers."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            now = self._clock()
            seen = parse_rate_limit(headers, now)
            if seen is None:
                return
            self._seen = seen
            if seen.limit is not None:
                self._limit = seen.limit
            if seen.remaining is None:
                return
            fresh = seen.remaining - self._in_flight
            if seen.reset is None:
                self._remaining = fresh if self._remaining is None else min(self._remaining, fresh)
                return
            if self._reset is not None and seen.reset < self._reset - _SAME_WINDOW:
                return  # a late answer from a window already over
            if self._reset is None or seen.reset > self._reset + _SAME_WINDOW:
                if self._reset is not None:
                    gap = seen.reset - self._reset
                    self._window = gap if self._window is None else min(self._window, gap)
                self._reset = seen.reset
                self._remaining = fresh
            else:
                current = self._remaining if self._remaining is not None else fresh
                self._remaining = min(current, fresh)

    def block_until(self, when: float) -> None:
        """After a 429: no thread sends before ``when``; the window is spent until then."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, when)
            if self._limit is not None:
                self._remaining = 0
