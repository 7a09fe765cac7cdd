"""Hub's login lockout: too many logins for one username and Hub refuses every login of that
username for 10 minutes (docker/hub-feedback#2201), answering 429 with the time to come back.

A client that logs in per request, or resends a login before the time it was given, locks its
own account out: the emulator's ``login_limit`` makes such a client fail in tests the way it
would against the live Hub.
"""

from __future__ import annotations

import math
import threading
from collections import deque


class LoginLockout:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logins: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def admit(
        self, username: str, *, now: float, limit: int, window: float, lockout: float
    ) -> float | None:
        """Count one login of ``username`` at unix time ``now``; the unix time its lockout ends
        when the login is refused (a login while locked out extends nothing), else None."""
        key = username.lower()
        with self._lock:
            until = self._locked_until.get(key)
            if until is not None and now < until:
                return until
            seen = self._logins.setdefault(key, deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            seen.append(now)
            if len(seen) > limit:
                seen.clear()
                self._locked_until[key] = now + lockout
                return now + lockout
        return None


def retry_headers(until: float, now: float) -> dict[str, str]:
    """The headers of a 429 that names when to come back, in both of Hub's styles."""
    return {
        "X-Retry-After": str(math.ceil(until)),
        "Retry-After": str(max(1, math.ceil(until - now))),
    }
