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
TagStatusField = Literal["both", "tag_status"]
PageSizeAboveMax = Literal["reject", "cap"]
TaggedManifestDelete = Literal["refuse", "untag"]
TagDeletePaths = Literal["both", "namespaces", "repositories"]

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

    Where the emulator used to be kinder than the live Hub (``like_hub()`` sets all of these the
    way Hub behaves):
    ``tag_status_field``: ``both`` sends a live-shaped tag's state as ``status`` and
    ``tag_status``; ``tag_status`` sends only ``tag_status``, as the live Hub does.
    ``time_digits``: 6 (microseconds) or 9 (nanoseconds, ``2026-08-19T17:09:02.431065465Z``).
    ``page_size_above_max``: ``reject`` answers 400 to ``page_size`` above 100; ``cap`` serves
    100 rows silently, as Hub does (the ``next`` links keep the ``page_size`` asked for).
    ``registry_tagged_delete``: a registry manifest DELETE of a digest a current tag points at:
    ``refuse`` (403, as the registry docs say) or ``untag`` (deletes it with every tag pointing
    at it, as the distribution registry does and Docker's own example relies on).
    ``manifest_get_is_pull``: a registry GET of a manifest counts as a pull: it refreshes the
    image's ``last_pulled`` (HEAD does not).
    ``registry_pull_limit``: pulls (manifest GETs) per 6 hours per user; the registry then sends
    ``ratelimit-limit: N;w=21600`` and ``ratelimit-remaining`` on manifest answers (None: no
    headers, no limit).
    ``tag_delete_paths``: which tag DELETE Hub answers: ``namespaces``
    (``/v2/namespaces/{ns}/repositories/{repo}/tags/{tag}``), ``repositories`` (hub-tool's
    ``/v2/repositories/{ns}/{repo}/tags/{tag}/``) or ``both``; the other answers 405.
    ``legacy_refuses_pat``: the ``/v2/repositories/...`` paths refuse tokens made from a personal
    access token (403), as they do for some accounts.
    ``manifests_listing``: serve ``GET .../repositories/{repo}/manifests`` (Hub's web UI
    listing, paged by ``last_evaluated_key``); ``manifests_platform_rows``: it also lists an
    index's platform manifests as rows of their own; ``manifests_page_size``: rows per page;
    ``manifests_tags_as_text``: a row's ``tags`` as one comma-separated string, a shape janitor
    does not understand (how a Hub that changed the listing would look to it).
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
    tag_status_field: TagStatusField = "both"
    time_digits: int = 6
    page_size_above_max: PageSizeAboveMax = "reject"
    registry_tagged_delete: TaggedManifestDelete = "refuse"
    manifest_get_is_pull: bool = False
    registry_pull_limit: int | None = None
    tag_delete_paths: TagDeletePaths = "both"
    unserved_tag_delete_status: int = 405
    legacy_refuses_pat: bool = True
    manifests_listing: bool = False
    manifests_platform_rows: bool = True
    manifests_page_size: int = 100
    manifests_tags_as_text: bool = False
    login_limit: int | None = None
    """Logins per username per ``login_window`` seconds before Hub locks the username out for
    ``login_lockout`` seconds (every login answered 429 until then); None: no lockout."""
    login_window: float = 600.0
    login_lockout: float = 600.0

    @classmethod
    def like_hub(cls, **overrides: object) -> EmulatorConfig:
        """The emulator as strict as the live Hub, wherever janitor knows Hub to differ from
        its docs: ``tag_status`` only, nanosecond times, ``page_size`` capped, a registry that
        deletes a tagged manifest with its tags, manifest GETs that count as pulls, registry
        rate-limit headers, tag DELETE on hub-tool's path only, the manifests listing, a login
        lockout."""
        values: dict[str, object] = {
            "tag_status_field": "tag_status",
            "time_digits": 9,
            "page_size_above_max": "cap",
            "registry_tagged_delete": "untag",
            "manifest_get_is_pull": True,
            "registry_pull_limit": 200,
            "tag_delete_paths": "repositories",
            "legacy_refuses_pat": False,
            "manifests_listing": True,
            "login_limit": 30,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

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
        if self.time_digits not in (6, 9):
            raise ValueError("time_digits must be 6 or 9")
        if self.tag_status_field not in ("both", "tag_status"):
            raise ValueError(f"unknown tag_status_field {self.tag_status_field!r}")
        if self.page_size_above_max not in ("reject", "cap"):
            raise ValueError(f"unknown page_size_above_max {self.page_size_above_max!r}")
        if self.registry_tagged_delete not in ("refuse", "untag"):
            raise ValueError(f"unknown registry_tagged_delete {self.registry_tagged_delete!r}")
        if self.tag_delete_paths not in ("both", "namespaces", "repositories"):
            raise ValueError(f"unknown tag_delete_paths {self.tag_delete_paths!r}")
        if self.unserved_tag_delete_status not in (404, 405):
            raise ValueError("unserved_tag_delete_status must be 404 or 405")
        if self.registry_pull_limit is not None and self.registry_pull_limit < 1:
            raise ValueError("registry_pull_limit must be at least 1 (or None)")
        if self.manifests_page_size < 1:
            raise ValueError("manifests_page_size must be at least 1")
        if self.public_base_url is not None:
            self.public_base_url = self.public_base_url.rstrip("/")

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the emulator clock must return timezone-aware datetimes")
        return now
