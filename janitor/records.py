"""What the store keeps and the reports read: runs and per-image decisions, ORM-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

RunStatus = Literal["running", "succeeded", "failed", "interrupted", "skipped"]
Trigger = Literal["cli", "schedule", "demo", "manual", "apply"]
Outcome = Literal[
    "kept",  # verdict keep
    "pending",  # planned for deletion, not yet executed
    "would_delete",  # dry run: Hub's dry run raised nothing the policy does not accept
    "deleted",  # Hub confirmed the delete
    "skipped_warning",  # a warning the policy does not accept (current_tag skip, is_active)
    "error",  # Hub answered an error for this image (not_found, child_manifest, 5xx, ...)
    "not_attempted",  # the run stopped before reaching it (limits, failure, shutdown)
    "sending",  # a real delete was sent and its answer not yet read
    "unconfirmed",  # sent, but the process died or Hub failed before the answer: a later run checks
]


@dataclass(frozen=True, slots=True)
class HubMetrics:
    """Hub's four ``delete-images`` counts: one call's (``DeleteResult.metrics``, where the
    registry backend counts them the same way) or a run's sum. The one type for them."""

    manifest_deletes: int = 0
    manifest_errors: int = 0
    tag_deletes: int = 0
    tag_errors: int = 0

    def __add__(self, other: HubMetrics) -> HubMetrics:
        return HubMetrics(
            self.manifest_deletes + other.manifest_deletes,
            self.manifest_errors + other.manifest_errors,
            self.tag_deletes + other.tag_deletes,
            self.tag_errors + other.tag_errors,
        )


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """janitor's own counts for one run."""

    repositories_scanned: int = 0
    images_scanned: int = 0
    candidates: int = 0
    kept: int = 0
    planned_deletes: int = 0
    skipped_by_warning: int = 0
    deleted: int = 0
    would_delete: int = 0
    errors: int = 0
    bytes_reclaimed: int | None = None  # None: no size known for any deleted image
    bytes_planned: int | None = None
    hub_calls: int = 0
    hub_rate_limited: int = 0


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    policy: str
    namespace: str
    trigger: str
    dry_run: bool
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    backend: str | None = None
    metrics: RunMetrics = field(default_factory=RunMetrics)
    hub_metrics: HubMetrics = field(default_factory=HubMetrics)
    owner: str | None = None  # host:pid of the process that ran it
    heartbeat_at: datetime | None = None
    report_path: str | None = None
    plan_hash: str | None = None  # the saved plan a `janitor apply` run applied
    notes: tuple[str, ...] = ()  # what the run could not see, or refused to plan

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One image's verdict in one run, and what became of it."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    last_pushed: datetime | None
    last_pulled: datetime | None  # None: never pulled
    verdict: Literal["keep", "delete"]
    reasons: tuple[str, ...]
    outcome: Outcome
    detail: str | None = None  # Hub's message, the warning, the error
    size: int | None = None
    selected_by: str | None = None
    run_id: int | None = None
    hub_code: str | None = None
    """The name of Hub's warning or error behind the outcome (``current_tag``, ``is_active``,
    ``not_found``, ``child_manifest``, ...), machine-readable beside ``detail``."""


UNTAGGED = "untagged"
WOULD_UNTAG = "would_untag"
UNTAG_CODES = frozenset({UNTAGGED, WOULD_UNTAG})
"""The ``hub_code`` of a kept image whose tags an ``action: untag`` entry removed (or, in a dry
run, would remove): the image stays, so its outcome stays ``kept``."""

OutcomeRow = tuple[str, str, Outcome, str | None] | tuple[str, str, Outcome, str | None, str | None]
"""An item's new outcome: (repository, digest, outcome, detail[, hub_code])."""


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A notification whose sending failed, kept for retrying. ``target`` is the URL's
    fingerprint (the URL itself, which carries tokens, is never stored)."""

    id: int
    kind: Literal["run_failed", "run_deleted", "weekly"]
    run_id: int | None
    target: str
    target_shown: str
    title: str
    body: str
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    given_up: bool = False


@dataclass(frozen=True, slots=True)
class MailRecord:
    """A report that was (or should have been) mailed: failed sends are retried later."""

    id: int
    kind: Literal["run", "weekly"]
    run_id: int | None
    recipients: tuple[str, ...]
    subject: str
    html_path: str
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
