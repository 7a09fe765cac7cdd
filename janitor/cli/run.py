"""`janitor run`: run policies once against Docker Hub."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import click

from janitor.cli.app import App, cli, handle_errors, progress_printer
from janitor.engine import (
    RunContext,
    decide_mode,
    owner_is_dead,
    recover_stale_runs,
    run_once,
    utcnow,
)
from janitor.errors import RunFailed, UsageError
from janitor.planner import Planner
from janitor.policy import Policy
from janitor.records import RunRecord
from janitor.reporting import deliver, mailer_from_settings, write_run_report
from janitor.serialize import run_to_json
from janitor.service.claims import RunningLease, lease_name, running_lease_ttl
from janitor.store import Store
from janitor.units import human_bytes

log = logging.getLogger("janitor.cli")


def run_policies(
    app: App,
    policies: Sequence[Policy],
    *,
    dry_run_flag: bool,
    apply_flag: bool,
    trigger: str,
    quiet: bool,
    planner: Planner | None = None,
) -> list[tuple[RunRecord, Path | None]]:
    """Run each policy through the one run path, then write (and mail) its report.
    ``planner``: where the plan of the (one) policy comes from; default: its evaluation."""
    ctx = RunContext(
        settings=app.settings,
        store=app.store(),
        hub_factory=app.hub_client,
        progress=progress_printer(not quiet),
    )
    app.hub_client().close()  # a configuration mistake is exit 2 before any run starts
    # A one-shot process has no run of its own in flight yet: a "running" run under its own
    # host:pid is a dead predecessor's (a container's PID 1 comes back with the same name).
    recover_stale_runs(ctx, own_runs=True)
    mailer = mailer_from_settings(app.settings)
    results: list[tuple[RunRecord, Path | None]] = []
    for policy in policies:
        mode = decide_mode(
            policy,
            dry_run_flag=dry_run_flag,
            apply_flag=apply_flag,
            service=False,
            settings=app.settings,
        )
        if mode.note and not quiet:
            click.echo(f"note: {mode.note}", err=True)
        # The same running lease as the service: a one-shot run never overlaps a service run
        # (or another one-shot run) of the same policy.
        lease = RunningLease(
            ctx.store,
            policy.name,
            ctx.owner,
            clock=utcnow,
            ttl=running_lease_ttl(timedelta(seconds=app.settings.stale_after_seconds)),
            on_lost=ctx.stop.set,
        )
        if not lease.acquire() and not (
            _release_dead_holder(ctx.store, policy.name, ctx.owner) and lease.acquire()
        ):
            raise RunFailed(
                f"policy {policy.name!r} is being run right now by another janitor process "
                "(a service replica or another `janitor run`); nothing was done, try again later"
            )
        try:
            record = run_once(ctx, policy, trigger=trigger, dry_run=mode.dry_run, planner=planner)
        finally:
            lease.release()
        if ctx.progress:
            click.echo("\r\033[K", err=True, nl=False)
        try:
            report, path = write_run_report(
                app.store(), record.id, app.settings.report_dir, now=utcnow()
            )
        except OSError as exc:  # the run is recorded; only its report file is missing
            log.error(
                "run %d: cannot write its report to %s: %s (see `janitor report --run %d`)",
                record.id,
                app.settings.report_dir,
                exc.strerror or exc,
                record.id,
            )
            results.append((app.store().get_run(record.id) or record, None))
            continue
        recipients = list(policy.report_emails) or list(app.settings.report_to)
        deliver(
            app.store(),
            mailer,
            report,
            recipients,
            kind="run",
            run_id=record.id,
            html_path=path,
            now=utcnow(),
        )
        results.append((app.store().get_run(record.id) or record, path))
    return results


def _release_dead_holder(store: Store, policy: str, me: str) -> bool:
    """The running lease of ``policy`` is held: when its holder is the owner of the policy's
    latest run and that process of this host no longer exists (a `janitor run` killed with -9),
    release its lease now rather than make the next run wait out its TTL. (Its runs were marked
    interrupted by ``recover_stale_runs`` already.)"""
    for run in store.list_runs(policy=policy, limit=1):
        if run.owner and run.status != "running" and owner_is_dead(run.owner, me):
            store.release_lease(lease_name("running", policy), run.owner)
            log.warning(
                "released the running lease of policy %s held by %s, a process that no longer "
                "exists",
                policy,
                run.owner,
            )
            return True
    return False


def _size(size: int | None) -> str:
    # Hub gives sizes through tags only: an untagged image's size is not known.
    return "size unknown" if size is None else human_bytes(size)


def summary_lines(record: RunRecord, report: Path | None) -> list[str]:
    m = record.metrics
    mode = "dry run" if record.dry_run else "delete run"
    gone = (
        f"{m.would_delete} would be deleted ({_size(m.bytes_planned)})"
        if record.dry_run
        else f"{m.deleted} deleted ({_size(m.bytes_reclaimed)} reclaimed)"
    )
    lines = [
        f"policy {record.policy} ({record.namespace}): {mode}, run #{record.id} {record.status}",
        f"  {m.repositories_scanned} repositories, {m.images_scanned} images scanned; "
        f"{m.candidates} candidates, {m.kept} kept, {m.planned_deletes} planned; {gone}; "
        f"{m.skipped_by_warning} skipped by warning; {m.errors} errors; {m.hub_calls} Hub calls",
    ]
    if record.error:
        lines.append(f"  error: {record.error}")
    if report is not None:
        lines.append(f"  report: {report}")
    return lines


@cli.command("run")
@click.option("--dry-run", "dry_run_flag", is_flag=True, help="Never delete, whatever the policy.")
@click.option(
    "--apply",
    "apply_flag",
    is_flag=True,
    help="Delete for policies whose mode is delete (after Hub's dry run, within their limits).",
)
@click.option("--policy", "names", multiple=True, help="Run only this policy (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.pass_obj
@handle_errors
def run_command(
    app: App, dry_run_flag: bool, apply_flag: bool, names: tuple[str, ...], as_json: bool
) -> None:
    """Run the policies once: plan, Hub's dry run, then (with --apply) delete, and record it."""
    if dry_run_flag and apply_flag:
        raise UsageError("--dry-run and --apply exclude each other")
    policies = app.policies(names)
    results = run_policies(
        app,
        policies,
        dry_run_flag=dry_run_flag,
        apply_flag=apply_flag,
        trigger="cli",
        quiet=as_json,
    )
    if as_json:
        click.echo(json.dumps([run_to_json(r) for r, _ in results], indent=2))
    else:
        for record, path in results:
            for line in summary_lines(record, path):
                click.echo(line)
    if any(r.status != "succeeded" or path is None for r, path in results):
        click.get_current_context().exit(1)
