"""The read-only run dashboard of ``janitor serve``: ``/`` (runs), ``/runs/{id}`` (a run's report),
``/schedule`` (next fires, last results) and ``/weekly`` (the weekly report).

Pages are rendered on the server from the store with Jinja2 (autoescaped: repository and tag
names are untrusted), without JavaScript. A run's page and the weekly page are the very reports
janitor writes and mails (``janitor.reporting``), with a navigation bar put in front. Nothing here
writes: every route answers GET and HEAD only. Who may read is decided in
:mod:`janitor.service.access`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import ChoiceLoader, Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from janitor.policy import Policy
from janitor.records import RunRecord
from janitor.report.environment import environment as report_environment
from janitor.report.labels import mode_label, status_label
from janitor.reporting import run_report, weekly_report
from janitor.service.listing import ScheduleEntry, schedule_entries
from janitor.store import Store
from janitor.store.models import RUN_STATUSES

PAGE_SIZE = 50
SCHEDULE_FIRES = 3
_BODY_OPEN = re.compile(r"<body[^>]*>", re.IGNORECASE)

HEADERS = {
    # No script may run, whatever a page holds; styles are inline; nothing may frame the pages.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class DashboardSource:
    """What the pages read: the store, the loaded policies, the weekly report's cron, a clock."""

    store: Store
    policies: Callable[[], Mapping[str, Policy]]
    report_schedule: str
    report_to: tuple[str, ...]
    clock: Callable[[], datetime]


@cache
def _environment() -> Environment:
    """The reports' environment (filters, autoescape, strict undefined) with the dashboard's
    templates first, so the pages share the reports' style sheet and macros."""
    return report_environment().overlay(
        loader=ChoiceLoader(
            [PackageLoader("janitor.service", "templates"), report_environment().loader]  # type: ignore[list-item]
        )
    )


def _page(template: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    html = _environment().get_template(template).render(context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _with_nav(report_html: str, current: str, now: datetime) -> str:
    """A report's HTML with the dashboard's navigation bar as the body's first element."""
    nav = (
        _environment()
        .get_template("dashboard/_nav_inline.html")
        .render(current=current, generated_at=now)
    )
    match = _BODY_OPEN.search(report_html)
    at = match.end() if match else 0
    return report_html[:at] + nav + report_html[at:]


def _bad_request(message: str, now: datetime) -> HTMLResponse:
    return _page(
        "dashboard/message.html",
        {"subject": "Bad request", "current": "", "message": message, "generated_at": now},
        status_code=400,
    )


def not_found(message: str, now: datetime) -> HTMLResponse:
    return _page(
        "dashboard/message.html",
        {"subject": "Not found", "current": "", "message": message, "generated_at": now},
        status_code=404,
    )


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of the runs list."""

    run: RunRecord

    @property
    def status(self) -> Any:
        return status_label(self.run.status)

    @property
    def mode(self) -> Any:
        return mode_label(self.run.dry_run)

    @property
    def removed(self) -> int:
        m = self.run.metrics
        return m.would_delete if self.run.dry_run else m.deleted

    @property
    def bytes(self) -> int | None:
        m = self.run.metrics
        return m.bytes_planned if self.run.dry_run else m.bytes_reclaimed


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    entry: ScheduleEntry
    last: RunRecord | None

    @property
    def last_status(self) -> Any:
        return status_label(self.last.status) if self.last else None


def _query(request: Request, **changes: object) -> str:
    """The page's query string with ``changes`` applied (None removes a key)."""
    params = {k: v for k, v in request.query_params.items() if k in ("policy", "status", "page")}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


def dashboard_routes(source: DashboardSource) -> list[Route]:
    store = source.store

    def runs_page(request: Request) -> Response:
        now = source.clock()
        policy = request.query_params.get("policy") or None
        status = request.query_params.get("status") or None
        page_text = request.query_params.get("page") or "1"
        if status is not None and status not in RUN_STATUSES:
            return _bad_request(f"status must be one of {', '.join(RUN_STATUSES)}", now)
        if not page_text.isdigit() or not 1 <= int(page_text) <= 100_000:
            return _bad_request("page must be a whole number from 1", now)
        page = int(page_text)
        found = store.list_runs(
            policy=policy,
            status=status,  # type: ignore[arg-type]
            limit=PAGE_SIZE + 1,
            offset=(page - 1) * PAGE_SIZE,
        )
        names = sorted(set(store.policy_names()) | set(source.policies()))
        context = {
            "subject": "janitor runs",
            "current": "runs",
            "rows": [RunRow(r) for r in found[:PAGE_SIZE]],
            "policy": policy,
            "status": status,
            "policies": names,
            "statuses": RUN_STATUSES,
            "page": page,
            "newer": _query(request, page=page - 1 if page > 2 else None) if page > 1 else None,
            "older": _query(request, page=page + 1) if len(found) > PAGE_SIZE else None,
            "generated_at": now,
        }
        return _page("dashboard/runs.html", context)

    def run_page(request: Request) -> Response:
        now = source.clock()
        run_id: int = request.path_params["run_id"]
        try:
            _, report = run_report(store, run_id, now=now)
        except LookupError:
            return not_found(f"There is no run #{run_id} in the store.", now)
        return HTMLResponse(_with_nav(report.html, "runs", now), headers=HEADERS)

    def schedule_page(request: Request) -> Response:
        now = source.clock()
        policies = source.policies()
        entries = schedule_entries(
            list(policies.values()),
            report_schedule=source.report_schedule,
            report_to=source.report_to,
            now=now,
            count=SCHEDULE_FIRES,
        )
        rows = []
        for entry in entries:
            if entry.cron is None:
                continue  # listed apart, as run only by `janitor run`
            last = None
            if entry.kind == "policy":
                latest = store.list_runs(policy=entry.name, limit=1)
                last = latest[0] if latest else None
            rows.append(ScheduleRow(entry, last))
        context = {
            "subject": "janitor schedule",
            "current": "schedule",
            "rows": rows,
            "unscheduled": sorted(n for n, p in policies.items() if p.schedule is None),
            "generated_at": now,
        }
        return _page("dashboard/schedule.html", context)

    def weekly_page(request: Request) -> Response:
        now = source.clock()
        until_text = request.query_params.get("until")
        if until_text:
            try:
                day = date.fromisoformat(until_text)
            except ValueError:
                return _bad_request("until must be a day like 2026-12-07", now)
            until = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        else:
            until = now
        report = weekly_report(store, since=until - timedelta(days=7), until=until, now=now)
        return HTMLResponse(_with_nav(report.html, "weekly", now), headers=HEADERS)

    methods = ["GET", "HEAD"]
    return [
        Route("/", runs_page, methods=methods),
        Route("/runs/{run_id:int}", run_page, methods=methods),
        Route("/schedule", schedule_page, methods=methods),
        Route("/weekly", weekly_page, methods=methods),
    ]


__all__ = ["HEADERS", "DashboardSource", "dashboard_routes", "not_found"]
