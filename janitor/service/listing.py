"""What `janitor schedule` shows: each policy's cron, timezone and next fires, and the weekly
report's. Pure: takes the policies, the settings' report schedule and ``now``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from janitor.policy import Policy
from janitor.service.firetimes import cron_trigger, next_fire_times, report_trigger
from janitor.units import iso


@dataclass(frozen=True)
class ScheduleEntry:
    kind: str  # "policy" | "weekly-report"
    name: str
    cron: str | None
    timezone: str
    next_fires: tuple[datetime, ...]  # UTC
    namespace: str | None = None
    mode: str | None = None
    recipients: tuple[str, ...] = ()

    def local_times(self) -> tuple[datetime, ...]:
        zone = ZoneInfo(self.timezone)
        return tuple(t.astimezone(zone) for t in self.next_fires)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "mode": self.mode,
            "cron": self.cron,
            "timezone": self.timezone,
            "next_fires": [iso(t) for t in self.next_fires],
            "recipients": list(self.recipients),
        }  # fmt: skip


def schedule_entries(
    policies: Sequence[Policy],
    *,
    report_schedule: str,
    report_to: Sequence[str],
    now: datetime,
    count: int = 3,
) -> list[ScheduleEntry]:
    """One entry per policy (in name order; those without a schedule have no fires) and one
    for the weekly report, last."""
    entries: list[ScheduleEntry] = []
    for policy in sorted(policies, key=lambda p: p.name):
        fires: tuple[datetime, ...] = ()
        if policy.schedule is not None:
            fires = tuple(
                next_fire_times(cron_trigger(policy.schedule, policy.timezone), now, count)
            )
        entries.append(
            ScheduleEntry(
                kind="policy",
                name=policy.name,
                cron=policy.schedule,
                timezone=policy.timezone,
                next_fires=fires,
                namespace=policy.namespace,
                mode=policy.mode,
                recipients=tuple(policy.report_emails) or tuple(report_to),
            )
        )
    entries.append(
        ScheduleEntry(
            kind="weekly-report",
            name="weekly report",
            cron=report_schedule,
            timezone="UTC",
            next_fires=tuple(next_fire_times(report_trigger(report_schedule), now, count)),
            recipients=tuple(report_to),
        )
    )
    return entries


def format_entries(entries: Sequence[ScheduleEntry]) -> list[str]:
    """Readable lines: a header per entry, then its next fires in UTC (and local time when the
    entry's timezone is not UTC)."""
    lines: list[str] = []
    for entry in entries:
        if entry.kind == "policy":
            head = f"policy {entry.name} (namespace {entry.namespace}, mode {entry.mode})"
        else:
            head = "weekly report"
        if entry.cron is None:
            lines.append(f"{head}: no schedule (runs only with `janitor run`)")
            continue
        lines.append(f"{head}: cron {entry.cron!r} in {entry.timezone}")
        if not entry.next_fires:
            lines.append("  next: never")
        for index, (utc, local) in enumerate(
            zip(entry.next_fires, entry.local_times(), strict=True)
        ):
            label = "  next: " if index == 0 else "        "
            text = utc.strftime("%Y-%m-%d %H:%M UTC (%a)")
            if entry.timezone != "UTC":
                text += f"  = {local.strftime('%Y-%m-%d %H:%M %Z')} {entry.timezone}"
            lines.append(label + text)
        if entry.recipients:
            lines.append(f"  mailed to: {', '.join(entry.recipients)}")
    return lines
