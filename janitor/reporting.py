"""After a run: render its report from the store, write it to the report folder, and mail it to
the policy's (or the config's) recipients. A failed send is queued in the store's outbox and
retried with the next report; it never fails the run or loses the report file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from janitor.config import Settings
from janitor.errors import ConfigError
from janitor.fileio import OutputTarget
from janitor.logs import register_secret
from janitor.report import RenderedReport, render_run_report, render_weekly_report
from janitor.report.files import text_twin, write_report, write_report_to
from janitor.report.mail import Mailer, MailError, SmtpMailer, SmtpSettings
from janitor.store import Store

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


def write_run_report(
    store: Store, run_id: int, report_dir: Path, *, now: datetime
) -> tuple[RenderedReport, Path]:
    run = store.get_run(run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    report = render_run_report(
        run,
        store.decisions(run_id),
        repositories=store.repository_summary(run_id),
        generated_at=now,
    )
    stamp = run.started_at.strftime("%Y%m%dT%H%M%SZ")
    path = write_report(report, report_dir, f"run-{run_id}-{run.policy}-{stamp}")
    store.set_report_path(run_id, str(path))
    return report, path


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
    from datetime import timedelta

    trend_start = min(since, until - timedelta(weeks=weeks))
    runs = store.list_runs(since=trend_start, until=until, limit=100_000)
    report = render_weekly_report(runs, since=since, until=until, weeks=weeks, generated_at=now)
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
) -> bool:
    """Send ``report``; on failure queue it for the next attempt. Also retries what was queued.
    Returns whether this report went out."""
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
