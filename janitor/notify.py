"""Notifications to chat and webhooks (Slack, Teams, Discord, Mattermost, generic JSON, ...)
through apprise: a run failed, a run deleted images, the weekly digest.

Apprise URLs carry tokens, so they are secrets: they live in ``JANITOR_NOTIFY`` (or its file) or
a policy's ``report.notify``, never in the store, a log line or an error. A failed send is queued
in the store's notification outbox under the URL's fingerprint (a SHA-256) and retried later with
whichever configured URL still has that fingerprint; it never fails a run.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from janitor.apprise_urls import (
    quiet_apprise,
    url_scheme,
)
from janitor.logs import register_secret
from janitor.records import RunRecord
from janitor.report.formatting import number, oneline, plural
from janitor.units import human_bytes

if TYPE_CHECKING:
    from janitor.config import Secret, Settings
    from janitor.policy import Policy
    from janitor.store import Store

log = logging.getLogger("janitor.notify")

NotificationKind = Literal["run_failed", "run_deleted", "weekly"]
NOTIFICATION_KINDS: tuple[str, ...] = ("run_failed", "run_deleted", "weekly")
SEND_TIMEOUT = 15.0
"""Seconds one notification may take before it counts as failed (and is queued)."""
MAX_ATTEMPTS = 20
"""Attempts per queued notification before the outbox gives it up (it stays recorded)."""
ERROR_LIMIT = 500


def _secret_parts(url: str) -> set[str]:
    """The parts of ``url`` a token could be: user info, path segments, query values."""
    parts = urlsplit(url)
    pieces = {url, parts.password or "", parts.username or ""}
    pieces.update(parts.path.split("/"))
    pieces.update(value for _, _, value in (q.partition("=") for q in parts.query.split("&")))
    return {p for p in pieces if len(p) >= 8}


def shown_url(url: str) -> str:
    """A notification URL as logs and the dashboard may show it: scheme and (masked) host only,
    e.g. ``slack://T...2/…``; apprise's own privacy form decides what in the host is secret."""
    scheme = url_scheme(url)
    if not scheme:
        return "an entry that is not a URL"
    import apprise

    quiet_apprise()
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    private = plugin.url(privacy=True) if plugin is not None else f"{scheme}://"
    parts = urlsplit(private)
    host = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    rest = "/…" if (parts.path.strip("/") or "@" in parts.netloc) else ""
    return f"{scheme}://{host}{rest}"


def fingerprint(url: str) -> str:
    """What the outbox keeps instead of the URL: enough to find it again, nothing to read."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def targets_for(policy: Policy | None, settings: Settings) -> tuple[Secret, ...]:
    """Where a run's notifications go: the policy's ``report.notify`` when it has any, else
    ``JANITOR_NOTIFY`` (the same rule as the report's e-mail recipients)."""
    from janitor.config import Secret

    if policy is not None and policy.report.notify:
        return tuple(Secret(u) for u in policy.report.notify)
    return settings.notify


def known_targets(policies: Iterable[Policy], settings: Settings) -> tuple[Secret, ...]:
    """Every configured URL, for retrying the outbox."""
    from janitor.config import Secret

    urls = {u.reveal(): u for u in settings.notify}
    for policy in policies:
        for url in policy.report.notify:
            urls.setdefault(url, Secret(url))
    return tuple(urls.values())


@dataclass(frozen=True, slots=True)
class Notification:
    kind: NotificationKind
    title: str
    body: str
    run_id: int | None = None

    @property
    def level(self) -> str:
        """Apprise's notify type: how chat services colour the message."""
        return {"run_failed": "failure", "run_deleted": "success"}.get(self.kind, "info")


def _link(public_url: str | None, path: str) -> str:
    return f"\n{public_url}{path}" if public_url else ""


def run_notification(
    run: RunRecord, *, subject: str, public_url: str | None
) -> Notification | None:
    """What to say about a finished run, if anything: its failure, or what it deleted. Dry runs
    and runs that deleted nothing stay quiet (the weekly digest covers them)."""
    m = run.metrics
    where = f"policy {oneline(run.policy)} on {oneline(run.namespace)} (run #{run.id})"
    deleted = f"deleted {plural(m.deleted, 'image')}"
    if m.bytes_reclaimed is not None:
        deleted += f" ({human_bytes(m.bytes_reclaimed)})"
    if run.status == "failed":
        body = f"The run of {where} failed: {oneline(run.error or 'no error recorded')}"
        if not run.dry_run and m.deleted:
            body += f"\nBefore it failed it {deleted}."
        kind: NotificationKind = "run_failed"
    elif not run.dry_run and m.deleted:
        body = (
            f"The run of {where} {deleted} of {number(m.images_scanned)} scanned in "
            f"{plural(m.repositories_scanned, 'repository', 'repositories')}"
        )
        body += f"; {plural(m.errors, 'error')}." if m.errors else "."
        kind = "run_deleted"
    else:
        return None
    return Notification(kind, subject, body + _link(public_url, f"/runs/{run.id}"), run.id)


def weekly_notification(subject: str, *, public_url: str | None) -> Notification:
    body = subject.removeprefix("[janitor] ") + _link(public_url, "/weekly")
    return Notification("weekly", subject, body)


Sender = Callable[[str, Notification], "str | None"]
"""Sends one notification to one URL; returns None when it went, else why not (no secrets)."""


def _scrub(text: str, url: str) -> str:
    """Remove every part of ``url`` a secret could be in from an error text."""
    pieces = _secret_parts(url)
    pieces.update(p for p in re.split(r"[/?&=:@#]+", url.partition("://")[2]) if len(p) >= 4)
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def apprise_send(url: str, notification: Notification) -> str | None:
    import apprise

    quiet_apprise()
    for part in _secret_parts(url):
        register_secret(part)  # the log's last line of defence
    service = apprise.Apprise()
    if not service.add(url):
        return "apprise cannot use this URL"
    try:
        result = service.notify(
            body=notification.body,
            title=notification.title,
            notify_type=notification.level,
            timeout=SEND_TIMEOUT,
        )
    except Exception as exc:  # a plugin's bug must not fail the run; its text may hold the URL
        return f"apprise failed ({type(exc).__name__})"
    if result:
        return None
    reasons = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
    text = " ".join(reasons) or f"apprise reported {result.status}"
    text = oneline(_scrub(text, url))
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


def send_notification(
    store: Store,
    notification: Notification,
    targets: Sequence[Secret],
    *,
    now: datetime,
    send: Sender = apprise_send,
) -> int:
    """Send ``notification`` to every target, queueing each failure. Returns how many went."""
    sent = 0
    for target in targets:
        url = target.reveal()
        reason = send(url, notification)
        if reason is None:
            sent += 1
            log.info("notified %s (%s)", shown_url(url), notification.kind)
            continue
        entry = store.add_notification(
            kind=notification.kind,
            run_id=notification.run_id,
            target=fingerprint(url),
            target_shown=shown_url(url),
            title=notification.title,
            body=notification.body,
            created_at=now,
        )
        store.mark_notification_failed(entry, reason)
        log.warning("could not notify %s (queued for retry): %s", shown_url(url), reason)
    return sent


def retry_notifications(
    store: Store, targets: Iterable[Secret], *, now: datetime, send: Sender = apprise_send
) -> int:
    """Resend the queued notifications of ``targets`` (found by fingerprint; those of URLs no
    longer configured wait, untouched); a target that fails again is left for the next pass,
    and a notification that failed ``MAX_ATTEMPTS`` times is given up. Returns how many went."""
    known = {fingerprint(t.reveal()): t.reveal() for t in targets}
    if not known:
        return 0
    failing: set[str] = set()
    sent = 0
    for entry in store.pending_notifications(targets=list(known)):
        url = known[entry.target]
        if entry.target in failing:
            continue
        notification = Notification(entry.kind, entry.title, entry.body, entry.run_id)
        reason = send(url, notification)
        if reason is None:
            store.mark_notification_sent(entry.id, now)
            sent += 1
            continue
        failing.add(entry.target)
        store.mark_notification_failed(entry.id, reason, give_up=entry.attempts + 1 >= MAX_ATTEMPTS)
        if entry.attempts + 1 >= MAX_ATTEMPTS:
            log.error(
                "gave up a notification to %s after %d attempts: %s",
                entry.target_shown,
                MAX_ATTEMPTS,
                reason,
            )
    return sent
