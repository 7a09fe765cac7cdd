"""How an emulator instance behaves: rate limits, token lifetime, answer shapes, its clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

RetryAfterStyle = Literal["x-retry-after", "retry-after", "both"]
TagShape = Literal["live", "spec"]
NeverPulledAs = Literal["null", "zero"]

NEVER_PULLED_ZERO = "0001-01-01T00:00:00Z"


def utc_now() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock for tests: stands still until told to move. Thread-safe.

    ``EmulatorConfig(clock=ManualClock(start))`` then ``clock.advance(seconds=601)`` expires tokens
    and rate-limit windows without sleeping.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or utc_now()
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        """Move forward by ``seconds`` (and/or timedelta keywords: minutes=, hours=, days=)."""
        with self._lock:
            self._now += timedelta(seconds=seconds, **kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


@dataclass
class EmulatorConfig:
    """Behaviour switches. Mutable on purpose: a test may flip ``tag_shape`` on a running emulator.

    ``rate_limit``: requests per ``rate_window`` seconds per token (anonymous: per client address);
    ``None`` means unlimited, and then no ``X-RateLimit-*`` headers are sent.
    ``retry_after_style``: which header a 429 carries: ``X-Retry-After`` (unix time of the window's
    end, the older docs), ``Retry-After`` (seconds, the newer docs) or both.
    ``token_ttl``: lifetime in seconds of tokens from ``/v2/auth/token`` and ``/v2/users/login``.
    ``public_base_url``: when set, ``next``/``previous`` links use it instead of the request's host.
    ``tag_shape``: ``live`` sends a tag's ``images`` as a list plus a top-level ``digest`` (what Hub
    sends); ``spec`` sends one ``images`` object and no ``digest`` (what the spec declares).
    ``never_pulled_as``: ``null`` or ``zero`` (``0001-01-01T00:00:00Z``) for a never-pulled image.
    ``clock``: the emulator's now (tokens, windows, ``status``, default ``active_from``).
    ``latency``: seconds added to every (non-admin) answer.
    ``registry_token_ttl``: ``expires_in`` of the registry's token service (``/registry/token``).
    ``registry_service``: the ``service`` its 401 challenge names and its token service expects.
    """

    rate_limit: int | None = None
    rate_window: float = 60.0
    retry_after_style: RetryAfterStyle = "both"
    token_ttl: float = 600.0
    public_base_url: str | None = None
    tag_shape: TagShape = "live"
    never_pulled_as: NeverPulledAs = "null"
    clock: Callable[[], datetime] = field(default=utc_now, repr=False)
    latency: float = 0.0
    registry_token_ttl: float = 300.0
    registry_service: str = "registry.docker.io"

    def __post_init__(self) -> None:
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1 (or None for unlimited)")
        if self.rate_window <= 0:
            raise ValueError("rate_window must be positive")
        if self.retry_after_style not in ("x-retry-after", "retry-after", "both"):
            raise ValueError(f"unknown retry_after_style {self.retry_after_style!r}")
        if self.tag_shape not in ("live", "spec"):
            raise ValueError(f"unknown tag_shape {self.tag_shape!r}")
        if self.never_pulled_as not in ("null", "zero"):
            raise ValueError(f"unknown never_pulled_as {self.never_pulled_as!r}")
        if self.token_ttl <= 0:
            raise ValueError("token_ttl must be positive")
        if self.latency < 0:
            raise ValueError("latency cannot be negative")
        if self.registry_token_ttl <= 0:
            raise ValueError("registry_token_ttl must be positive")
        if self.public_base_url is not None:
            self.public_base_url = self.public_base_url.rstrip("/")

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the emulator clock must return timezone-aware datetimes")
        return now
