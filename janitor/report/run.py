"""The report of one run: what it deleted (or would delete), what it kept, what went wrong.

``render_run_report`` is pure: it reads the run record and one pass over its decisions (which may
be a stream of 100,000 rows from the store: only the first ``ROW_LIMIT`` rows of each list are
kept, the rest are counted), and takes the time it was generated at as an argument.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from janitor.records import UNTAG_CODES, DecisionRecord, RunRecord
from janitor.report.environment import render_html, render_text
from janitor.report.formatting import (
    clip,
    duration,
    number,
    oneline,
    plural,
    when,
)
from janitor.report.labels import StatusLabel, mode_label, status_label
from janitor.report.rendered import RenderedReport
from janitor.units import human_bytes

ROW_LIMIT = 500
"""Rows shown per image table (in both parts); the report says how many more there are."""

SUBJECT_LIMIT = 200

_REMOVED = frozenset({"deleted", "would_delete"})
_ERRORS = frozenset({"error", "unconfirmed"})
_UNFINISHED = frozenset({"pending", "sending", "not_attempted"})

OUTCOME_WORDS: Mapping[str, str] = {
    "kept": "kept",
    "pending": "pending",
    "would_delete": "would delete",
    "deleted": "deleted",
    "skipped_warning": "skipped (warning)",
    "error": "error",
    "not_attempted": "not attempted",
    "sending": "sent, no answer read",
    "unconfirmed": "unconfirmed",
}


@dataclass(frozen=True, slots=True)
class ImageRow:
    repository: str
    digest: str
    tags: tuple[str, ...]
    last_pushed: datetime | None
    last_pulled: datetime | None
    size: int | None
    outcome: str
    reasons: tuple[str, ...]
    detail: str | None
    selected_by: str | None
    hub_code: str | None = None  # Hub's warning or error (current_tag, is_active, not_found...)

    @property
    def outcome_words(self) -> str:
        return OUTCOME_WORDS.get(self.outcome, self.outcome)

    @classmethod
    def of(cls, decision: DecisionRecord) -> ImageRow:
        return cls(
            repository=decision.repository,
            digest=decision.digest,
            tags=tuple(decision.tags),
            last_pushed=decision.last_pushed,
            last_pulled=decision.last_pulled,
            size=decision.size,
            outcome=decision.outcome,
            reasons=tuple(decision.reasons),
            detail=decision.detail,
            selected_by=decision.selected_by,
            hub_code=decision.hub_code,
        )


@dataclass(slots=True)
class Listing:
    """The first ``limit`` rows of a list, and how many rows the list had."""

    limit: int = ROW_LIMIT
    rows: list[ImageRow] = field(default_factory=list)
    total: int = 0

    def add(self, decision: DecisionRecord) -> None:
        self.total += 1
        if len(self.rows) < self.limit:
            self.rows.append(ImageRow.of(decision))

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


@dataclass(slots=True)
class RepositoryRow:
    repository: str
    images: int = 0
    kept: int = 0
    deleted: int = 0
    would_delete: int = 0
    skipped_warning: int = 0
    errors: int = 0
    bytes: int | None = None

    @classmethod
    def from_summary(cls, row: Mapping[str, Any]) -> RepositoryRow:
        """A row of ``Store.repository_summary``; absent counts are zero, absent bytes unknown."""
        raw_bytes = row.get("bytes")
        return cls(
            repository=str(row["repository"]),
            images=int(row.get("images") or 0),
            kept=int(row.get("kept") or 0),
            deleted=int(row.get("deleted") or 0),
            would_delete=int(row.get("would_delete") or 0),
            skipped_warning=int(row.get("skipped_warning") or 0),
            errors=int(row.get("errors") or 0),
            bytes=None if raw_bytes is None else int(raw_bytes),
        )

    def count(self, decision: DecisionRecord) -> None:
        self.images += 1
        outcome = decision.outcome
        if outcome == "kept":
            self.kept += 1
        elif outcome in _REMOVED:
            if outcome == "deleted":
                self.deleted += 1
            else:
                self.would_delete += 1
            if decision.size is not None:
                self.bytes = (self.bytes or 0) + decision.size
        elif outcome == "skipped_warning":
            self.skipped_warning += 1
        elif outcome in _ERRORS:
            self.errors += 1


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str
    tone: str | None = None  # highlights a value that needs attention ("bad", "warn")


@dataclass(slots=True)
class _Collected:
    removed: Listing = field(default_factory=Listing)
    skipped: Listing = field(default_factory=Listing)
    errors: Listing = field(default_factory=Listing)
    unfinished: Listing = field(default_factory=Listing)
    saved: Listing = field(default_factory=Listing)
    untagged: Listing = field(default_factory=Listing)
    """Images that stay, with tags an ``action: untag`` entry removed (or would remove)."""
    outcomes: Counter[str] = field(default_factory=Counter)
    repositories: dict[str, RepositoryRow] = field(default_factory=dict)


def _collect(decisions: Iterable[DecisionRecord], *, tally_repositories: bool) -> _Collected:
    got = _Collected()
    for decision in decisions:
        outcome = decision.outcome
        got.outcomes[outcome] += 1
        if decision.hub_code in UNTAG_CODES:
            got.untagged.add(decision)
        if outcome in _REMOVED:
            got.removed.add(decision)
        elif outcome == "skipped_warning":
            got.skipped.add(decision)
        elif outcome in _ERRORS:
            got.errors.add(decision)
        elif outcome in _UNFINISHED:
            got.unfinished.add(decision)
        elif decision.verdict == "keep" and decision.selected_by is not None:
            got.saved.add(decision)
        if tally_repositories:
            row = got.repositories.get(decision.repository)
            if row is None:
                row = got.repositories[decision.repository] = RepositoryRow(decision.repository)
            row.count(decision)
    return got


def _headline(run: RunRecord) -> str:
    m = run.metrics
    repos = plural(m.repositories_scanned, "repository", "repositories")
    scanned = f"{plural(m.images_scanned, 'image')} in {repos}"
    if run.dry_run:
        text = f"Would delete {number(m.would_delete)} of {scanned}"
        size = m.bytes_planned
    else:
        text = f"Deleted {number(m.deleted)} of {scanned}"
        size = m.bytes_reclaimed
    if size is not None:
        text += f", reclaiming {human_bytes(size)}"
    extras = []
    if m.skipped_by_warning:
        extras.append(f"{number(m.skipped_by_warning)} skipped for a warning")
    if m.errors:
        extras.append(plural(m.errors, "error"))
    if extras:
        text += "; " + ", ".join(extras)
    text += "."
    if run.status in ("failed", "interrupted", "running"):
        text = f"So far: {text[0].lower()}{text[1:]}"
    if run.dry_run:
        text += " Nothing was deleted: this was a dry run."
    return text


def _facts(run: RunRecord, status: StatusLabel, mode: StatusLabel) -> list[Fact]:
    plan = [Fact("Saved plan", f"applied {run.plan_hash}")] if run.plan_hash else []
    return [
        Fact("Run", f"#{run.id}"),
        Fact("Policy", run.policy),
        Fact("Namespace", run.namespace),
        Fact("Mode", f"{mode.word}: {mode.meaning}", "info" if run.dry_run else None),
        Fact("Status", f"{status.word}: {status.meaning}", status.tone),
        Fact("Trigger", run.trigger),
        *plan,
        Fact("Backend", run.backend or "—"),
        Fact("Started", when(run.started_at)),
        Fact("Finished", when(run.finished_at, empty="not finished")),
        Fact("Duration", duration(run.duration_seconds)),
    ]


def _totals(run: RunRecord, got: _Collected) -> list[Fact]:
    m = run.metrics
    totals = [
        Fact("Repositories scanned", number(m.repositories_scanned)),
        Fact("Images scanned", number(m.images_scanned)),
        Fact("Candidates", number(m.candidates)),
        Fact("Kept", number(m.kept)),
        Fact("Planned for deletion", number(m.planned_deletes)),
        Fact(
            "Skipped for a warning",
            number(m.skipped_by_warning),
            "warn" if m.skipped_by_warning else None,
        ),
    ]
    if run.dry_run:
        totals.append(Fact("Would delete", number(m.would_delete)))
    else:
        totals.append(Fact("Deleted", number(m.deleted)))
    totals.append(Fact("Errors", number(m.errors), "bad" if m.errors else None))
    unfinished = got.unfinished.total
    if unfinished:
        totals.append(Fact("Not attempted", number(unfinished), "warn"))
    if run.dry_run:
        totals.append(Fact("Would reclaim", human_bytes(m.bytes_planned)))
    else:
        totals.append(Fact("Reclaimed", human_bytes(m.bytes_reclaimed)))
    totals.append(Fact("Hub API calls", number(m.hub_calls)))
    totals.append(
        Fact(
            "Rate-limited (429)", number(m.hub_rate_limited), "warn" if m.hub_rate_limited else None
        )
    )
    return totals


def _hub_metrics_note(run: RunRecord) -> str | None:
    if run.backend == "registry":
        return (
            "The registry backend counts these itself, the way delete-images does, from the "
            "tags and manifests it deleted"
            + (" (in a dry run: would delete)." if run.dry_run else ".")
        )
    if run.dry_run:
        return "A dry run deletes nothing: these are Hub's dry-run answers, what it would delete."
    return None


def _hub_metrics(run: RunRecord) -> list[Fact]:
    h = run.hub_metrics
    return [
        Fact("manifest_deletes", number(h.manifest_deletes)),
        Fact("manifest_errors", number(h.manifest_errors), "bad" if h.manifest_errors else None),
        Fact("tag_deletes", number(h.tag_deletes)),
        Fact("tag_errors", number(h.tag_errors), "bad" if h.tag_errors else None),
    ]


def _subject(run: RunRecord) -> str:
    m = run.metrics
    state = "" if run.status == "succeeded" else status_label(run.status).word + " "
    mode = "DRY RUN " if run.dry_run else ""
    if run.dry_run:
        what = f"would delete {plural(m.would_delete, 'image')}"
        size = m.bytes_planned
    else:
        what = f"deleted {plural(m.deleted, 'image')}"
        size = m.bytes_reclaimed
    if size is not None:
        what += f" ({human_bytes(size)})"
    if m.errors:
        what += f", {plural(m.errors, 'error')}"
    subject = f"[janitor] {state}{mode}{run.policy} on {run.namespace}: {what}"
    return clip(oneline(subject), SUBJECT_LIMIT)


def render_run_report(
    run: RunRecord,
    decisions: Iterable[DecisionRecord],
    *,
    repositories: list[dict[str, Any]] | None = None,
    generated_at: datetime,
) -> RenderedReport:
    """Render the report of ``run``.

    ``repositories`` is the store's per-repository summary (``Store.repository_summary``); when
    None it is computed from ``decisions``. Totals come from the run's metrics, the lists from
    the decisions (read once; each list keeps its first ``ROW_LIMIT`` rows and counts the rest).
    """
    got = _collect(decisions, tally_repositories=repositories is None)
    if repositories is None:
        repo_rows = list(got.repositories.values())
    else:
        repo_rows = [RepositoryRow.from_summary(r) for r in repositories]
    repo_rows.sort(key=lambda r: r.repository)
    status = status_label(run.status)
    mode = mode_label(run.dry_run)
    context: dict[str, Any] = {
        "run": run,
        "status": status,
        "mode": mode,
        "subject": _subject(run),
        "headline": _headline(run),
        "facts": _facts(run, status, mode),
        "totals": _totals(run, got),
        "hub_metrics": _hub_metrics(run),
        "hub_metrics_note": _hub_metrics_note(run),
        "repositories": repo_rows[:ROW_LIMIT],
        "repositories_more": max(len(repo_rows) - ROW_LIMIT, 0),
        "removed": got.removed,
        "skipped": got.skipped,
        "errors": got.errors,
        "unfinished": got.unfinished,
        "saved": got.saved,
        "untagged": got.untagged,
        "row_limit": ROW_LIMIT,
        "generated_at": generated_at,
    }
    return RenderedReport(
        subject=context["subject"],
        html=render_html("run.html", context),
        text=render_text("run.txt.j2", context),
    )
