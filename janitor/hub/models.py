"""Typed values the Hub client returns. Frozen, ORM-free, safe to share between threads.

Times are timezone-aware UTC. ``None`` for ``last_pulled`` means *never pulled* (Hub sends
``null`` or ``0001-01-01T00:00:00Z`` for that); it is a real state, never a date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from janitor.records import HubMetrics

WarningKind = Literal["is_active", "current_tag"]
ErrorKind = str  # Hub documents not_found, unauthorized, child_manifest; others may appear


@dataclass(frozen=True, slots=True)
class Repository:
    namespace: str
    name: str
    is_private: bool = False
    last_updated: datetime | None = None
    storage_size: int | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class TagRef:
    """A tag as the images endpoint lists it on an image: current or historical."""

    tag: str
    is_current: bool


@dataclass(frozen=True, slots=True)
class PlatformImage:
    """One platform manifest of a tag (a child of an index, or the image itself)."""

    digest: str | None
    architecture: str | None = None
    os: str | None = None
    variant: str | None = None
    size: int | None = None
    last_pushed: datetime | None = None
    last_pulled: datetime | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag as the tags endpoint lists it (``/v2/namespaces/{ns}/repositories/{repo}/tags``)."""

    name: str
    digest: str | None
    last_pushed: datetime | None
    last_pulled: datetime | None
    full_size: int | None = None
    status: str | None = None
    last_updated: datetime | None = None
    images: tuple[PlatformImage, ...] = ()


@dataclass(frozen=True, slots=True)
class Image:
    """One image of a repository, judged as a whole.

    ``digest`` is the top-level manifest: a single-platform manifest or a multi-arch index.
    ``children`` holds the platform manifests of an index (empty otherwise); a child is never
    an image of its own. ``size`` is in bytes where known (from the tags endpoint).
    """

    namespace: str
    repository: str
    digest: str
    tags: tuple[TagRef, ...] = ()
    last_pushed: datetime | None = None
    last_pulled: datetime | None = None
    status: str | None = None
    size: int | None = None
    children: tuple[str, ...] = ()

    @property
    def current_tags(self) -> tuple[str, ...]:
        return tuple(sorted({t.tag for t in self.tags if t.is_current}))

    @property
    def currently_tagged(self) -> bool:
        return any(t.is_current for t in self.tags)


@dataclass(frozen=True, slots=True)
class RepositoryInventory:
    """A repository and every image in it: the unit the evaluator and executor work on."""

    repository: Repository
    images: tuple[Image, ...]
    notes: tuple[str, ...] = ()
    """What janitor could not see in this repository (for the run record and the report)."""
    refused: str | None = None
    """Why janitor refuses to plan this repository (its listing did not add up even when read
    again); a refused repository has no images, and nothing in it is deleted."""


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One row of Hub's manifests listing (``GET .../repositories/{repo}/manifests``)."""

    digest: str
    tags: tuple[str, ...]
    last_pushed: datetime | None
    last_pulled: datetime | None
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class ImagesSummary:
    active_from: datetime | None
    total: int
    active: int
    inactive: int


@dataclass(frozen=True, slots=True)
class ManifestRef:
    repository: str
    digest: str


@dataclass(frozen=True, slots=True)
class DeleteWarning:
    repository: str
    digest: str
    warning: WarningKind
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "repository": self.repository,
            "digest": self.digest,
            "warning": self.warning,
        }
        if self.warning == "current_tag":
            body["tags"] = list(self.tags)
        return body


@dataclass(frozen=True, slots=True)
class DeleteError:
    repository: str
    digest: str
    error: ErrorKind


DeleteMetrics = HubMetrics
"""Hub's name for its four delete counts (``metrics`` of a ``delete-images`` answer)."""


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """The answer to one ``delete-images`` call, success or "Deletion not possible" alike.

    ``accepted`` is True on a 200 (``metrics`` set); False on Hub's 400 validation answer,
    which carries ``errors`` (never ignorable) and ``warnings`` (ignorable via
    ``ignore_warnings``). Nothing was deleted when ``accepted`` is False.
    """

    dry_run: bool
    accepted: bool
    metrics: DeleteMetrics | None = None
    errors: tuple[DeleteError, ...] = ()
    warnings: tuple[DeleteWarning, ...] = ()
    message: str | None = None
    txnid: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimitState:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # unix time


@dataclass(slots=True)
class CallStats:
    """Counters of one client's traffic; mutable, updated under the client's lock."""

    calls: int = 0
    rate_limited: int = 0
    retries: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> CallStats:
        return CallStats(self.calls, self.rate_limited, self.retries, dict(self.by_endpoint))

    def record(self, endpoint: str, *, rate_limited: bool = False, retry: bool = False) -> None:
        """Count one call (or, with ``retry``, one retry); the caller holds its lock."""
        if retry:
            self.retries += 1
            return
        self.calls += 1
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1
        if rate_limited:
            self.rate_limited += 1


def manifests(refs: Iterable[tuple[str, str]]) -> list[ManifestRef]:
    return [ManifestRef(repository=r, digest=d) for r, d in refs]
