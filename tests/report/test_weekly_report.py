"""The weekly report: per-policy outcomes, dry runs not summed, ISO-week trend, failures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from janitor.records import RunMetrics, RunRecord
from janitor.report import WeeklyRow, render_weekly_report, weekly_rows, weekly_trend

from .htmlparse import card, parse, squash, tiles
from .samples import HOSTILE_REPO, NOW, MiB, weekly_runs

_ids = iter(range(1, 1_000_000))


def make_run(
    started: datetime,
    *,
    policy: str = "nightly",
    namespace: str = "acme",
    dry_run: bool = False,
    status: str = "succeeded",
    deleted: int = 0,
    bytes_reclaimed: int | None = None,
    would_delete: int = 0,
    bytes_planned: int | None = None,
    error: str | None = None,
) -> RunRecord:
    return RunRecord(
        id=next(_ids),
        policy=policy,
        namespace=namespace,
        trigger="schedule",
        dry_run=dry_run,
        status=status,  # type: ignore[arg-type]
        started_at=started,
        finished_at=started + timedelta(minutes=3),
        error=error,
        metrics=RunMetrics(
            deleted=deleted,
            bytes_reclaimed=bytes_reclaimed,
            would_delete=would_delete,
            bytes_planned=bytes_planned,
        ),
    )


def rows_by_policy(rows: list[WeeklyRow]) -> dict[str, WeeklyRow]:
    return {r.policy: r for r in rows}


def test_trend_buckets_by_iso_week() -> None:
    until = datetime(2026, 1, 12, tzinfo=UTC)  # a Monday: week 2026-W02 is complete
    runs = [
        # 2025-12-29 is the Monday of ISO week 2026-W01.
        make_run(datetime(2025, 12, 29, 0, 0, tzinfo=UTC), deleted=5, bytes_reclaimed=5 * MiB),
        make_run(datetime(2025, 12, 28, 23, 59, 59, tzinfo=UTC), deleted=7),  # 2025-W52
        make_run(datetime(2026, 1, 4, 23, 59, 59, tzinfo=UTC), deleted=11, bytes_reclaimed=MiB),
        make_run(datetime(2026, 1, 5, 0, 0, tzinfo=UTC), deleted=13),  # 2026-W02
        make_run(datetime(2026, 1, 11, 12, 0, tzinfo=UTC), dry_run=True, would_delete=99),
        make_run(datetime(2026, 1, 12, 0, 0, tzinfo=UTC), deleted=1000),  # at until: excluded
        make_run(datetime(2025, 11, 1, tzinfo=UTC), deleted=1000),  # before the trend
    ]
    trend = weekly_trend(runs, until=until, weeks=4)
    assert [w.label for w in trend] == ["2025-W51", "2025-W52", "2026-W01", "2026-W02"]
    assert [w.images for w in trend] == [0, 7, 16, 13]
    assert [w.bytes for w in trend] == [None, None, 6 * MiB, None]
    assert [w.runs for w in trend] == [0, 1, 2, 2]  # the dry run counts as a run, removes nothing
    assert not any(w.partial for w in trend)
    assert trend[2].images_percent == 100.0
    assert trend[3].images_percent == round(100 * 13 / 16, 1)
    assert trend[0].images_percent == 0.0
    assert trend[2].days == "Dec 29 \u2013 Jan 04"


def test_trend_marks_the_week_in_progress() -> None:
    until = datetime(2026, 5, 13, 9, 30, tzinfo=UTC)  # a Wednesday
    trend = weekly_trend([make_run(until - timedelta(hours=1), deleted=3)], until=until, weeks=2)
    assert [w.label for w in trend] == ["2026-W19", "2026-W20"]
    assert [w.partial for w in trend] == [False, True]
    assert trend[1].images == 3
    with pytest.raises(ValueError, match="weeks"):
        weekly_trend([], until=until, weeks=0)


def test_trend_renders_as_inline_bars() -> None:
    report = render_weekly_report(
        weekly_runs(), since=NOW - timedelta(weeks=1), until=NOW, generated_at=NOW
    )
    doc = parse(report.html)
    trend = card(doc, "Trend")
    assert not doc.find_all("script") and not doc.find_all("img") and not doc.find_all("svg")
    fills = trend.find_all("td", "bar-fill")
    byte_fills = trend.find_all("td", "bar-fill-bytes")
    assert len(fills) == len(byte_fills) == 8
    for fill in fills + byte_fills:
        assert fill.css["width"].endswith("%")
        assert fill.css["background"] in ("#0969da", "#1a7f37")  # inlined, not left to a sheet
        assert fill.css["padding"] == "0"  # the table's cell padding does not swell the bar
    widths = [float(f.css["width"].rstrip("%")) for f in fills]
    assert widths[6] == 100.0  # 2026-W19, the busiest week
    assert widths[:7] == sorted(widths[:7]) and len(set(widths[:7])) == 7
    assert widths[7] < 100.0  # the week in progress
    rows = trend.rows()
    labels = [squash(str(r.cells()[0].children[0])) for r in rows]
    assert labels == [f"2026-W{n:02d}" for n in range(13, 21)]
    for sheet in doc.find_all("style"):
        assert sheet.text().strip().startswith("@media")
    text_trend = report.text.split("Trend (last 8 weeks, delete runs)")[1].split("Failures")[0]
    assert "2026-W19  images ##############################" in text_trend
    assert "week so far" in text_trend


def test_dry_run_would_delete_is_the_latest_not_a_sum() -> None:
    since = datetime(2026, 5, 4, tzinfo=UTC)
    until = since + timedelta(weeks=1)
    runs = [
        make_run(
            since + timedelta(days=d),
            policy="preview",
            dry_run=True,
            would_delete=100 + d,
            bytes_planned=(100 + d) * MiB,
        )
        for d in range(6)
    ]
    runs.append(
        make_run(
            since + timedelta(days=6),
            policy="preview",
            dry_run=True,
            status="failed",
            would_delete=3,
            error="Hub answered 500",
        )
    )
    random.Random(7).shuffle(runs)
    rows = weekly_rows(runs, since=since, until=until)
    (row,) = rows
    assert row.would_delete == 105  # the latest dry run that succeeded, not 615, not 3
    assert row.would_reclaim == 105 * MiB
    assert not row.would_delete_partial
    assert row.runs == 7 and row.dry_runs == 7 and row.failed == 1
    assert row.images_deleted == 0

    report = render_weekly_report(runs, since=since, until=until, generated_at=until)
    doc = parse(report.html)
    (table_row,) = card(doc, "Per policy").rows()
    cells = {td.attrs.get("data-label"): squash(td.text()) for td in table_row.cells()}
    assert cells["Would remove"] == "105"
    assert cells["Would reclaim"] == "105.0 MiB"
    assert tiles(card(doc, "Totals"))["Dry runs would remove"] == "105"
    assert "would remove: 105 images, 105.0 MiB" in report.text
    assert "615" not in report.text


def test_a_failed_dry_run_is_used_only_when_none_succeeded() -> None:
    since = datetime(2026, 5, 4, tzinfo=UTC)
    runs = [
        make_run(since + timedelta(days=1), dry_run=True, status="interrupted", would_delete=40),
        make_run(since + timedelta(days=2), dry_run=True, status="skipped"),
    ]
    (row,) = weekly_rows(runs, since=since, until=since + timedelta(weeks=1))
    assert row.would_delete == 40
    assert row.would_delete_partial
    assert row.interrupted == 1 and row.skipped == 1
    report = render_weekly_report(
        runs, since=since, until=since + timedelta(weeks=1), generated_at=since
    )
    assert "partial" in squash(card(parse(report.html), "Per policy").text())
    assert "interrupted: partial" in report.text


def test_rows_count_outcomes_and_removals_per_policy_and_namespace() -> None:
    since = datetime(2026, 5, 4, tzinfo=UTC)
    until = since + timedelta(weeks=1)
    runs = [
        make_run(since, deleted=10, bytes_reclaimed=10 * MiB),
        make_run(since + timedelta(days=1), deleted=5, bytes_reclaimed=None),
        make_run(
            since + timedelta(days=2), status="interrupted", deleted=2, bytes_reclaimed=2 * MiB
        ),
        make_run(since + timedelta(days=3), namespace="other", status="failed", error="boom"),
        make_run(since - timedelta(seconds=1), deleted=1000),  # before since: trend only
        make_run(until, deleted=1000),  # at until: excluded
    ]
    rows = weekly_rows(runs, since=since, until=until)
    assert [(r.policy, r.namespace) for r in rows] == [("nightly", "acme"), ("nightly", "other")]
    acme, other = rows
    assert (acme.runs, acme.succeeded, acme.interrupted, acme.failed) == (3, 2, 1, 0)
    assert acme.images_deleted == 17  # an interrupted delete run still removed what it removed
    assert acme.bytes_deleted == 12 * MiB
    assert acme.latest_dry_run is None and acme.would_delete is None
    assert (other.runs, other.failed, other.images_deleted, other.bytes_deleted) == (1, 1, 0, None)

    report = render_weekly_report(runs, since=since, until=until, generated_at=until)
    totals = tiles(card(parse(report.html), "Totals"))
    assert totals["Runs"] == "4"
    assert totals["Images removed"] == "17"
    assert totals["Reclaimed"] == "12.0 MiB"
    assert totals["Failed"] == "1" and totals["Interrupted"] == "1"
    text_totals = report.text.split("Totals\n------\n")[1].split("\n\n")[0]
    for label, value in totals.items():
        assert f"{label}:" in text_totals and value in text_totals
    assert report.subject == (
        "[janitor] Weekly report 2026-05-04 to 2026-05-10: 17 images removed (12.0 MiB), "
        "2 failed runs"
    )


def test_failures_are_listed_with_their_errors() -> None:
    report = render_weekly_report(
        weekly_runs(), since=NOW - timedelta(weeks=1), until=NOW, generated_at=NOW
    )
    doc = parse(report.html)
    banner = doc.find("div", "banner")
    assert "tone-bad" in banner.classes
    assert squash(banner.text()).startswith("ATTENTION: 2 runs failed or were interrupted")
    failures = card(doc, "Failures (2)")
    rows = failures.rows()
    first = {td.attrs.get("data-label"): squash(td.text()) for td in rows[0].cells()}
    second = {td.attrs.get("data-label"): squash(td.text()) for td in rows[1].cells()}
    assert first["Status"] == "INTERRUPTED"  # newest first
    assert first["Policy"] == HOSTILE_REPO  # escaped: rendered as text
    assert second["Status"] == "FAILED"
    assert second["Run"] == "#999"
    assert "Hub answered 503 Service Unavailable" in second["Error"]
    assert not doc.find_all("img")
    assert "ATTENTION: 2 runs failed or were interrupted; see Failures below." in report.text
    text = report.text.split("Failures (2)")[1]
    assert "run #999" in text and "FAILED" in text
    assert "Hub answered 503 Service Unavailable" in text
    assert "INTERRUPTED" in text


def test_a_period_without_runs_renders() -> None:
    since = datetime(2026, 5, 4, tzinfo=UTC)
    report = render_weekly_report(
        [], since=since, until=since + timedelta(weeks=1), generated_at=since
    )
    doc = parse(report.html)
    assert report.subject == "[janitor] Weekly report 2026-05-04 to 2026-05-10: no runs"
    assert "No run started in this period." in doc.text()
    assert "No run failed or was interrupted." in doc.text()
    assert not doc.find_all("td", "bar-fill")  # nothing to draw: no zero-width bars either
    assert len(card(doc, "Trend").rows()) == 8
    assert "janitor did not run in this period." in report.text


def test_the_period_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        render_weekly_report([], since=NOW, until=NOW, generated_at=NOW)


def test_weekly_styles_are_inlined() -> None:
    report = render_weekly_report(
        weekly_runs(), since=NOW - timedelta(weeks=1), until=NOW, generated_at=NOW
    )
    doc = parse(report.html)
    for element in doc.find_all("div", "card"):
        assert element.css["border-radius"] == "8px"
    for element in doc.find_all("div", "tile"):
        assert element.css["display"] == "inline-block"
    assert "<script" not in report.html.lower()
