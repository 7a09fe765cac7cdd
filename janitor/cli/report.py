"""`janitor report`: a run's report or the weekly cleanup report, to a file and by mail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

import click

from janitor.cli.app import RUN_ID, App, PathType, cli, handle_errors
from janitor.cli.policies import parse_as_of
from janitor.engine import utcnow
from janitor.errors import UsageError
from janitor.fileio import output_target
from janitor.report.files import write_report_to
from janitor.reporting import (
    deliver,
    mailer_from_settings,
    write_run_report,
    write_weekly_report,
)


@cli.command("report")
@click.option("--run", "run_id", type=RUN_ID, help="The run's report (see `janitor runs list`).")
@click.option("--weekly", is_flag=True, help="The weekly cleanup report.")
@click.option("--since", help="Weekly: start of the period (ISO 8601; default 7 days ago).")
@click.option(
    "--out",
    type=PathType(dir_okay=False, path_type=Path, allow_dash=True),
    help="Write the HTML here (a .txt alternative beside it); - for standard output.",
)
@click.option("--send", is_flag=True, help="Mail it (JANITOR_SMTP_*) to JANITOR_REPORT_TO.")
@click.option("--to", "recipients", multiple=True, help="Recipient instead of JANITOR_REPORT_TO.")
@click.pass_obj
@handle_errors
def report_command(
    app: App,
    run_id: int | None,
    weekly: bool,
    since: str | None,
    out: Path | None,
    send: bool,
    recipients: tuple[str, ...],
) -> None:
    """Render a run's report (--run ID) or the weekly report (--weekly), write it, and
    optionally send it by SMTP."""
    if (run_id is None) == (not weekly):
        raise UsageError("give exactly one of --run ID or --weekly")
    target = output_target(out) if out is not None else None  # refused before any work
    store, now = app.store(), utcnow()
    kind: Literal["run", "weekly"]
    if weekly:
        start = parse_as_of(since, "--since") if since else now - timedelta(days=7)
        if start >= now:
            raise UsageError("--since must be in the past")
        # Without a file at --out, a report to send is kept in the report folder too: a failed
        # send is retried from that file.
        keep_in = app.settings.report_dir if target is None or send else None
        report, path = write_weekly_report(
            store, keep_in, since=start, until=now, now=now, out=target
        )
        kind = "weekly"
    else:
        assert run_id is not None
        if store.get_run(run_id) is None:
            raise UsageError(f"no run with id {run_id} (see `janitor runs list`)")
        report, path = write_run_report(store, run_id, app.settings.report_dir, now=now)
        if target is not None:
            path = write_report_to(report, target) or path
        kind = "run"
    # With the report on standard output, the lines about it go to standard error.
    to_stderr = target is not None and target.way == "stdout"
    shown = path if path is not None else target.given if target is not None else ""
    click.echo(f"report: {shown}", err=to_stderr)
    if send:
        to = list(recipients) or list(app.settings.report_to)
        if not to:
            raise UsageError("--send needs recipients: --to ADDRESS or JANITOR_REPORT_TO")
        mailer = mailer_from_settings(app.settings)
        if mailer is None:
            raise UsageError("--send needs an SMTP server: set JANITOR_SMTP_HOST (see README)")
        assert path is not None
        sent = deliver(store, mailer, report, to, kind=kind, run_id=run_id, html_path=path, now=now)
        if not sent:
            raise UsageError(
                "the report could not be sent (queued for the next attempt; see the log)"
            )
        click.echo(f"sent to {', '.join(to)}", err=to_stderr)
