"""Reports people read: the report of a run and the weekly cleanup report (HTML with a plain-text
alternative, written to files and mailed). Rendering is pure; delivery lives in ``mail``."""

from janitor.report.rendered import RenderedReport
from janitor.report.run import render_run_report
from janitor.report.weekly import WeeklyRow, render_weekly_report, weekly_rows, weekly_trend

__all__ = [
    "RenderedReport",
    "WeeklyRow",
    "render_run_report",
    "render_weekly_report",
    "weekly_rows",
    "weekly_trend",
]
