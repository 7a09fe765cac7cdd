"""Hub's API rate limit: a fixed number of requests per fixed window, per caller.

Windows are aligned on multiples of ``window`` seconds of the emulator's clock, so every caller's
window ends at the same instant: ``X-RateLimit-Reset`` (and ``X-Retry-After``) name it as unix
seconds; ``Retry-After`` gives the seconds left.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # unix time the window ends
    retry_after: int  # whole seconds until then, at least 1


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window_start: float | None = None
        self._counts: dict[str, int] = {}

    def hit(self, key: str, *, now: float, limit: int, window: float) -> RateDecision:
        """Count one request by ``key`` at unix time ``now``."""
        start = math.floor(now / window) * window
        with self._lock:
            if start != self._window_start:
                self._window_start = start
                self._counts.clear()
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        end = start + window
        return RateDecision(
            allowed=count <= limit,
            limit=limit,
            remaining=max(0, limit - count),
            reset=end,
            retry_after=max(1, math.ceil(end - now)),
        )

    def exhausted(self, *, now: float, limit: int | None, window: float) -> RateDecision:
        """What a caller past the limit would be told now (for the ``rate_limit`` fault)."""
        start = math.floor(now / window) * window
        end = start + window
        return RateDecision(False, limit or 0, 0, end, max(1, math.ceil(end - now)))
