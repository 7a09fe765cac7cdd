"""After a run: render its report from the store, write it to the report folder, and mail it to
the policy's (or the config's) recipients. A failed send is queued in the store's outbox and
retried with the next report; it never fails the run or loses the report file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from janitor.config import Secret, Settings
from janitor.errors import ConfigError, JanitorError
from janitor.fileio import OutputTarget
from janitor.logs import register_secret
from janitor.notify import (
    Notification,
    retry_notifications,
    run_notification,
    send_notification,
    targets_for,
    weekly_notification,
)
from janitor.policy import Policy
from janitor.records import RunRecord
from janitor.report import RenderedReport, render_run_report, render_weekly_report
from janitor.report.files import text_twin, write_report, write_report_to
from janitor.report.mail import Mailer, MailError, SmtpMailer, SmtpSettings
from janitor.store import Store, StoreError

log = logging.getLogger("janitor.reporting")


def mailer_from_settings(settings: Settings) -> Mailer | None:
    try:
        smtp = SmtpSettings.from_env(settings.smtp_env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if smtp is None:
        return None
    register_secret(smtp.password)  # the log's last line of defence knows it too
    return SmtpMailer(smtp)


def run_report(store: Store, run_id: int, *, now: datetime) -> tuple[RunRecord, RenderedReport]:
    """Run ``run_id``'s report rendered from the store (the file, the mail and the dashboard's
    page are this). LookupError when there is no such run."""
    run = store.get_run(run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    report = render_run_report(
        run,
        store.decisions(run_id),
        repositories=store.repository_summary(run_id),
        generated_at=now,
    )
    return run, report


def write_run_report(
    store: Store, run_id: int, report_dir: Path, *, now: datetime
) -> tuple[RenderedReport, Path]:
    run, report = run_report(store, run_id, now=now)
    stamp = run.started_at.strftime("%Y%m%dT%H%M%SZ")
    path = write_report(report, report_dir, f"run-{run_id}-{run.policy}-{stamp}")
    store.set_report_path(run_id, str(path))
    return report, path


def weekly_report(
    store: Store, *, since: datetime, until: datetime, now: datetime, weeks: int = 8
) -> RenderedReport:
    """The weekly report of the runs started in ``[since, until)``, with ``weeks`` of trend."""
    trend_start = min(since, until - timedelta(weeks=weeks))
    runs = store.list_runs(since=trend_start, until=until, limit=100_000)
    return render_weekly_report(runs, since=since, until=until, weeks=weeks, generated_at=now)


def report_run(
    store: Store,
    mailer: Mailer | None,
    policy: Policy,
    run_id: int,
    *,
    settings: Settings,
    now: datetime,
) -> Path | None:
    """Write the finished run's report and deliver it. Returns the report file, or None when it
    could not be written or delivered (logged; the run itself stays recorded)."""
    try:
        report, path = write_run_report(store, run_id, settings.report_dir, now=now)
    except (OSError, LookupError, StoreError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        log.error(
            "run %d: cannot write its report to %s: %s (see `janitor report --run %d`)",
            run_id,
            settings.report_dir,
            reason,
            run_id,
        )
        return None
    try:
        deliver_run_report(store, mailer, report, policy, run_id, path, settings=settings, now=now)
    except (JanitorError, StoreError, OSError) as exc:
        log.error("run %d: its report %s could not be delivered: %s", run_id, path, exc)
        return None
    return path


def deliver_run_report(
    store: Store,
    mailer: Mailer | None,
    report: RenderedReport,
    policy: Policy,
    run_id: int,
    html_path: Path,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    """A run report's delivery: mail to the policy's recipients (or JANITOR_REPORT_TO), and a
    notification to its ``report.notify`` URLs (or JANITOR_NOTIFY)."""
    recipients = list(policy.report_emails) or list(settings.report_to)
    deliver(
        store,
        mailer,
        report,
        recipients,
        kind="run",
        run_id=run_id,
        html_path=html_path,
        now=now,
        notify=targets_for(policy, settings),
        public_url=settings.public_url,
    )


def write_weekly_report(
    store: Store,
    report_dir: Path | None,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    weeks: int = 8,
    out: OutputTarget | None = None,
) -> tuple[RenderedReport, Path | None]:
    report = weekly_report(store, since=since, until=until, now=now, weeks=weeks)
    path: Path | None = None
    if out is not None:
        path = write_report_to(report, out)
    if path is None and report_dir is not None:  # also kept as a file when --out is no file
        path = write_report(report, report_dir, f"weekly-{until.strftime('%Y%m%d')}")
    return report, path


def deliver(
    store: Store,
    mailer: Mailer | None,
    report: RenderedReport,
    recipients: Sequence[str],
    *,
    kind: Literal["run", "weekly"],
    run_id: int | None,
    html_path: Path,
    now: datetime,
    notify: Sequence[Secret] = (),
    public_url: str | None = None,
) -> bool:
    """Send ``report``; on failure queue it for the next attempt. Also retries what was queued.
    Tells the ``notify`` URLs too (see ``janitor.notify``). Returns whether the mail went out."""
    if notify:
        notify_report(
            store, report, notify, kind=kind, run_id=run_id, public_url=public_url, now=now
        )
    if not recipients:
        return False
    if mailer is None:
        log.warning(
            "report has recipients (%s) but no SMTP server is configured (JANITOR_SMTP_HOST); "
            "not sent",
            ", ".join(recipients),
        )
        return False
    retry_outbox(store, mailer, now=now)
    try:
        mailer.send(report, recipients)
    except MailError as exc:
        mail_id = store.add_mail(
            kind=kind,
            run_id=run_id,
            recipients=list(recipients),
            subject=report.subject,
            html_path=str(html_path),
            created_at=now,
        )
        store.mark_mail_failed(mail_id, str(exc))
        log.warning("could not send the report (queued for retry): %s", exc)
        return False
    log.info("report sent to %s", ", ".join(recipients))
    return True


def notify_report(
    store: Store,
    report: RenderedReport,
    targets: Sequence[Secret],
    *,
    kind: Literal["run", "weekly"],
    run_id: int | None,
    public_url: str | None,
    now: datetime,
) -> None:
    """Notify ``targets`` of a run (if it failed or deleted images) or of the weekly digest;
    retry their queued notifications first. Never raises: a notification never fails a run."""
    try:
        retry_notifications(store, targets, now=now)
        notification: Notification | None
        if kind == "weekly":
            notification = weekly_notification(report.subject, public_url=public_url)
        else:
            run = store.get_run(run_id) if run_id is not None else None
            if run is None:
                return
            notification = run_notification(run, subject=report.subject, public_url=public_url)
        if notification is not None:
            send_notification(store, notification, targets, now=now)
    except StoreError as exc:
        log.error("could not send or queue a notification: %s", exc)


def retry_outbox(store: Store, mailer: Mailer, *, now: datetime) -> int:
    """Resend reports whose earlier sending failed, from their files. Returns how many went."""
    sent = 0
    for mail in store.pending_mail():
        html = Path(mail.html_path)
        text = text_twin(html)
        try:
            report = RenderedReport(
                subject=mail.subject,
                html=html.read_text(encoding="utf-8"),
                text=text.read_text(encoding="utf-8") if text.exists() else "",
            )
        except OSError as exc:
            store.mark_mail_failed(mail.id, f"report file unreadable: {exc}")
            continue
        try:
            mailer.send(report, mail.recipients)
        except MailError as exc:
            store.mark_mail_failed(mail.id, str(exc))
            break  # the server is still unwell: try again next time
        store.mark_mail_sent(mail.id, now)
        sent += 1
    return sent
