"""`janitor serve` and `janitor schedule`: the service's commands (the service itself is
``janitor.service``)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

import click

from janitor.cli.app import App, cli, handle_errors
from janitor.engine import decide_mode
from janitor.errors import ConfigError, JanitorError, UsageError
from janitor.policy import Policy, PolicyLoadError
from janitor.reporting import mailer_from_settings
from janitor.service.firetimes import report_trigger
from janitor.service.lifecycle import pid_file_path, send_reload, serve_until_signalled
from janitor.service.listing import format_entries, schedule_entries
from janitor.service.scheduler import Service, ServiceOptions

log = logging.getLogger("janitor.service")


def _start_up_checks(app: App) -> tuple[list[Policy], list[str]]:
    """Load and check everything the service needs before it starts; every problem is listed,
    not only the first."""
    errors: list[str] = []
    policies: list[Policy] = []
    try:
        policies = app.policies()
    except PolicyLoadError as exc:
        errors.extend(str(e) for e in exc.errors)
    except JanitorError as exc:
        errors.append(str(exc))
    try:
        deletes = any(
            not decide_mode(
                p, dry_run_flag=False, apply_flag=False, service=True, settings=app.settings
            ).dry_run
            for p in policies
        )
        if deletes:
            app.store().check_for_deletes()
    except JanitorError as exc:
        errors.append(str(exc))
    try:
        report_trigger(app.settings.report_schedule)
    except ConfigError as exc:
        errors.append(str(exc))
    try:
        app.hub_client().close()
    except JanitorError as exc:
        errors.append(str(exc))
    try:
        mailer_from_settings(app.settings)
    except (ValueError, JanitorError) as exc:
        errors.append(f"SMTP settings: {exc}")
    return policies, errors


@cli.command("serve")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port of the dashboard, /healthz and /metrics (default: JANITOR_HTTP_PORT, 9464; "
    "0: any free port).",
)
@click.option(
    "--host",
    default="0.0.0.0",  # reached from outside its container
    show_default=True,
    help="Address the HTTP server listens on.",
)
@click.option(
    "--reload",
    "reload_running",
    is_flag=True,
    help="Make the running `janitor serve` (pid file in the data dir) reload its policies, "
    "then exit.",
)
@click.option(
    "--once-at-start",
    is_flag=True,
    help="Run every policy once at start (for containers that want a run on deploy), then "
    "follow the schedules.",
)
@click.option(
    "--fire-every",
    type=click.FloatRange(min=1.0),
    hidden=True,
    help="For tests and demos: fire every scheduled policy every N seconds instead of its cron.",
)
@click.option(
    "--maintenance-every",
    type=click.FloatRange(min=1.0),
    default=60.0,
    hidden=True,
    help="Seconds between maintenance passes (stale runs, mail outbox).",
)
@click.pass_obj
@handle_errors
def serve_command(
    app: App,
    port: int | None,
    host: str,
    reload_running: bool,
    once_at_start: bool,
    fire_every: float | None,
    maintenance_every: float,
) -> None:
    """Run the policies on their schedules and mail the weekly report, until SIGTERM.

    Deletes for `mode: delete` policies (the deployment is the second key). Serves the read-only
    dashboard (off loopback only with JANITOR_HTTP_TOKEN), /healthz and /metrics.
    SIGTERM/SIGINT: finish the current batch, record, exit. SIGHUP (or `janitor serve --reload`):
    reload the policies, keeping the old ones if the new ones are invalid. Several
    replicas may share one PostgreSQL store: each scheduled fire runs once.
    """
    ctx = click.get_current_context()
    if reload_running:
        pid = send_reload(app.settings)
        click.echo(
            f"sent SIGHUP to janitor serve (pid {pid}): it reloads the policies from "
            f"{app.settings.policies}"
        )
        return
    policies, errors = _start_up_checks(app)
    if errors:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        click.echo(f"{len(errors)} error(s); janitor serve did not start", err=True)
        ctx.exit(2)
    # The service logs each scheduling event itself; APScheduler's own INFO lines repeat them.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    if not policies:
        log.warning("no policies in %s: only the weekly report will run", app.settings.policies)
    service = Service(
        settings=app.settings,
        store=app.store(),
        hub_factory=app.hub_client,
        load_policies=app.policies,
        mailer=mailer_from_settings(app.settings),
        options=ServiceOptions(
            host=host,
            port=port,
            once_at_start=once_at_start,
            fire_every=fire_every,
            maintenance_seconds=maintenance_every,
        ),
    )
    code = serve_until_signalled(service, policies, pid_file=pid_file_path(app.settings))
    if code != 0:
        # Runs that did not stop in time still hold worker threads, which the interpreter would
        # wait for at exit: they were marked interrupted, so leave now.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)


def _parse_as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--as-of: {value!r} is not an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@cli.command("schedule")
@click.option(
    "--count",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="How many next fire times to list.",
)
@click.option("--as-of", help="Compute from this time (ISO 8601; UTC without an offset).")
@click.option("--json", "as_json", is_flag=True, help="Print the schedule as JSON.")
@click.pass_obj
@handle_errors
def schedule_command(app: App, count: int, as_of: str | None, as_json: bool) -> None:
    """List each policy's cron, timezone and next fire times, and the weekly report's."""
    now = _parse_as_of(as_of)
    entries = schedule_entries(
        app.policies(),
        report_schedule=app.settings.report_schedule,
        report_to=app.settings.report_to,
        now=now,
        count=count,
    )
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    for line in format_entries(entries):
        click.echo(line)
