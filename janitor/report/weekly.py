"""The weekly cleanup report: how clean the Hub is and what janitor saved, per policy and over time.

Main tables use the runs started in ``[since, until)``; the trend uses every run given, bucketed by
the ISO week (UTC) it started in, over the ``weeks`` weeks that end with the week of ``until``.
Images and bytes *removed* come from delete runs only (an interrupted delete run still removed
what it removed). What dry runs *would* remove is the latest dry run's figure per policy and
namespace, never a sum over runs (each dry run sees the same images again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from janitor.records import RunRecord
from janitor.report.environment import render_html, render_text
from janitor.report.formatting import as_utc, clip, number, oneline, plural
from janitor.report.labels import StatusLabel, status_label
from janitor.report.rendered import RenderedReport
from janitor.report.run import SUBJECT_LIMIT, Fact
from janitor.units import human_bytes

FAILURE_LIMIT = 100
"""Failed or interrupted runs listed; the report says how many more there were."""

TEXT_BAR_WIDTH = 30


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return (total or 0) + value


@dataclass(frozen=True, slots=True)
class WeeklyRow:
    """One (policy, namespace) over the report's period."""

    policy: str
    namespace: str
    runs: int
    succeeded: int
    failed: int
    interrupted: int
    skipped: int
    running: int
    delete_runs: int
    dry_runs: int
    images_deleted: int
    bytes_deleted: int | None
    """Bytes reclaimed by delete runs; None when no deleted image had a known size."""
    image_errors: int
    latest_dry_run: RunRecord | None
    """The dry run whose figures say what enforcing the policy would remove: the latest one that
    succeeded, else the latest one that ran at all (failed or interrupted: partial figures)."""
    last_run_at: datetime

    @property
    def would_delete(self) -> int | None:
        run = self.latest_dry_run
        return None if run is None else run.metrics.would_delete

    @property
    def would_reclaim(self) -> int | None:
        run = self.latest_dry_run
        return None if run is None else run.metrics.bytes_planned

    @property
    def would_delete_partial(self) -> bool:
        run = self.latest_dry_run
        return run is not None and run.status != "succeeded"

    @property
    def unsuccessful(self) -> int:
        return self.failed + self.interrupted


@dataclass(frozen=True, slots=True)
class TrendWeek:
    """Images and bytes removed by delete runs started in one ISO week (UTC)."""

    year: int
    week: int
    monday: date
    images: int
    bytes: int | None
    runs: int
    partial: bool
    """The week is not over at ``until``: the figures are so far."""
    images_percent: float = 0.0
    bytes_percent: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def days(self) -> str:
        sunday = self.monday + timedelta(days=6)
        return f"{self.monday:%b %d} \u2013 {sunday:%b %d}"

    @property
    def images_bar(self) -> str:
        return "#" * round(self.images_percent * TEXT_BAR_WIDTH / 100)

    @property
    def bytes_bar(self) -> str:
        return "#" * round(self.bytes_percent * TEXT_BAR_WIDTH / 100)


def _latest_dry_run(dry_runs: list[RunRecord]) -> RunRecord | None:
    done = [r for r in dry_runs if r.status == "succeeded"]
    if not done:
        done = [r for r in dry_runs if r.status in ("failed", "interrupted")]
    return max(done, key=lambda r: (as_utc(r.started_at), r.id), default=None)


def weekly_rows(runs: Iterable[RunRecord], *, since: datetime, until: datetime) -> list[WeeklyRow]:
    """One row per (policy, namespace) that has runs started in ``[since, until)``."""
    start, end = as_utc(since), as_utc(until)
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for run in runs:
        if start <= as_utc(run.started_at) < end:
            groups[(run.policy, run.namespace)].append(run)
    rows = []
    for (policy, namespace), group in sorted(groups.items()):
        statuses = [r.status for r in group]
        deletes = [r for r in group if not r.dry_run]
        dry = [r for r in group if r.dry_run]
        reclaimed: int | None = None
        for r in deletes:
            reclaimed = _add(reclaimed, r.metrics.bytes_reclaimed)
        rows.append(
            WeeklyRow(
                policy=policy,
                namespace=namespace,
                runs=len(group),
                succeeded=statuses.count("succeeded"),
                failed=statuses.count("failed"),
                interrupted=statuses.count("interrupted"),
                skipped=statuses.count("skipped"),
                running=statuses.count("running"),
                delete_runs=len(deletes),
                dry_runs=len(dry),
                images_deleted=sum(r.metrics.deleted for r in deletes),
                bytes_deleted=reclaimed,
                image_errors=sum(r.metrics.errors for r in group),
                latest_dry_run=_latest_dry_run(dry),
                last_run_at=max(as_utc(r.started_at) for r in group),
            )
        )
    return rows


def _monday(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def weekly_trend(runs: Iterable[RunRecord], *, until: datetime, weeks: int = 8) -> list[TrendWeek]:
    """The ``weeks`` ISO weeks ending with the week of ``until`` (exclusive), oldest first, with
    the images and bytes delete runs removed in each. Weeks without runs are there, with zeros."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, not {weeks}")
    end = as_utc(until)
    last_monday = _monday(end - timedelta(microseconds=1))
    mondays = [last_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    first = datetime.combine(mondays[0], datetime.min.time(), tzinfo=UTC)
    images: dict[date, int] = dict.fromkeys(mondays, 0)
    sizes: dict[date, int | None] = dict.fromkeys(mondays)
    counts: dict[date, int] = dict.fromkeys(mondays, 0)
    for run in runs:
        started = as_utc(run.started_at)
        if not first <= started < end:
            continue
        monday = _monday(started)
        counts[monday] += 1
        if not run.dry_run:
            images[monday] += run.metrics.deleted
            sizes[monday] = _add(sizes[monday], run.metrics.bytes_reclaimed)
    top_images = max(images.values())
    top_bytes = max((s or 0) for s in sizes.values())
    week_over = datetime.combine(last_monday + timedelta(days=7), datetime.min.time(), tzinfo=UTC)
    partial_monday = last_monday if end < week_over else None
    trend = []
    for monday in mondays:
        iso = monday.isocalendar()
        size = sizes[monday]
        trend.append(
            TrendWeek(
                year=iso.year,
                week=iso.week,
                monday=monday,
                images=images[monday],
                bytes=size,
                runs=counts[monday],
                partial=monday == partial_monday,
                images_percent=_percent(images[monday], top_images),
                bytes_percent=_percent(size or 0, top_bytes),
            )
        )
    return trend


def _percent(value: int, top: int) -> float:
    """Bar width in percent of the largest value; a value above zero always shows (at least 1%)."""
    if top <= 0 or value <= 0:
        return 0.0
    return round(max(100.0 * value / top, 1.0), 1)


@dataclass(frozen=True, slots=True)
class FailureRow:
    run: RunRecord
    status: StatusLabel


def _failures(runs: Sequence[RunRecord], *, since: datetime, until: datetime) -> list[RunRecord]:
    start, end = as_utc(since), as_utc(until)
    failed = [
        r
        for r in runs
        if r.status in ("failed", "interrupted") and start <= as_utc(r.started_at) < end
    ]
    failed.sort(key=lambda r: (as_utc(r.started_at), r.id), reverse=True)
    return failed


def _period(since: datetime, until: datetime) -> str:
    first = as_utc(since).date()
    last = (as_utc(until) - timedelta(microseconds=1)).date()
    if first == last:
        return f"{first:%Y-%m-%d}"
    return f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"


def render_weekly_report(
    runs: Sequence[RunRecord],
    *,
    since: datetime,
    until: datetime,
    weeks: int = 8,
    generated_at: datetime,
) -> RenderedReport:
    """Render the weekly report. ``runs`` covers the trend period (the last ``weeks`` weeks up to
    ``until``); the main tables use the runs started in ``[since, until)``."""
    if as_utc(until) <= as_utc(since):
        raise ValueError("the report's period is empty: until must be after since")
    rows = weekly_rows(runs, since=since, until=until)
    trend = weekly_trend(runs, until=until, weeks=weeks)
    failures = _failures(runs, since=since, until=until)

    total_runs = sum(r.runs for r in rows)
    removed = sum(r.images_deleted for r in rows)
    reclaimed: int | None = None
    for row in rows:
        reclaimed = _add(reclaimed, row.bytes_deleted)
    would = [r for r in rows if r.latest_dry_run is not None]
    would_images = sum(r.would_delete or 0 for r in would)
    would_bytes: int | None = None
    for row in would:
        would_bytes = _add(would_bytes, row.would_reclaim)
    failed = sum(r.failed for r in rows)
    interrupted = sum(r.interrupted for r in rows)

    period = _period(since, until)
    subject = f"[janitor] Weekly report {period}: {plural(removed, 'image')} removed"
    if reclaimed is not None:
        subject += f" ({human_bytes(reclaimed)})"
    if failed + interrupted:
        subject += f", {plural(failed + interrupted, 'failed run')}"
    if not total_runs:
        subject = f"[janitor] Weekly report {period}: no runs"

    headline = (
        f"{plural(total_runs, 'run')} of {plural(len(rows), 'policy', 'policies')}. "
        f"Delete runs removed {plural(removed, 'image')}"
    )
    headline += f" ({human_bytes(reclaimed)})." if reclaimed is not None else "."
    if would:
        headline += (
            f" Dry-run policies would remove {plural(would_images, 'image')} if enforced"
            " (the latest dry run of each)."
        )
    if failed + interrupted:
        headline += f" {plural(failed + interrupted, 'run')} failed or stopped early."
    if not total_runs:
        headline = "janitor did not run in this period."

    tiles = [
        Fact("Runs", number(total_runs)),
        Fact("Succeeded", number(sum(r.succeeded for r in rows))),
        Fact("Failed", number(failed), "bad" if failed else None),
        Fact("Interrupted", number(interrupted), "warn" if interrupted else None),
        Fact("Images removed", number(removed)),
        Fact("Reclaimed", human_bytes(reclaimed)),
        Fact("Dry runs would remove", number(would_images), "info" if would_images else None),
        Fact("Dry runs would reclaim", human_bytes(would_bytes), "info" if would_bytes else None),
    ]
    context: dict[str, Any] = {
        "subject": clip(oneline(subject), SUBJECT_LIMIT),
        "headline": headline,
        "period": period,
        "since": as_utc(since),
        "until": as_utc(until),
        "weeks": weeks,
        "rows": rows,
        "tiles": tiles,
        "trend": trend,
        "trend_has_bytes": any(w.bytes for w in trend),
        "failures": [FailureRow(r, status_label(r.status)) for r in failures[:FAILURE_LIMIT]],
        "failures_more": max(len(failures) - FAILURE_LIMIT, 0),
        "generated_at": generated_at,
    }
    return RenderedReport(
        subject=context["subject"],
        html=render_html("weekly.html", context),
        text=render_text("weekly.txt.j2", context),
    )
