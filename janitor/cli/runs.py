"""`janitor runs list|show` and `janitor db upgrade`: what the store recorded."""

from __future__ import annotations

import json

import click

from janitor.cli.app import RUN_ID, App, cli, handle_errors
from janitor.errors import UsageError
from janitor.serialize import decision_to_json, run_to_json
from janitor.units import human_bytes, short_digest, short_time


@cli.group("runs")
def runs_group() -> None:
    """Recorded runs."""


@runs_group.command("list")
@click.option("--policy", help="Only runs of this policy.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def runs_list(app: App, policy: str | None, limit: int, as_json: bool) -> None:
    """List recent runs, newest first."""
    runs = app.store().list_runs(policy=policy, limit=limit)
    if as_json:
        click.echo(json.dumps([run_to_json(r) for r in runs], indent=2))
        return
    if not runs:
        click.echo("no runs recorded yet")
        return
    click.echo(
        f"{'ID':>5}  {'STARTED (UTC)':16}  {'POLICY':24}  {'NAMESPACE':14}  {'MODE':7}  "
        f"{'STATUS':11}  {'IMAGES':>7}  {'DELETED':>7}  {'WOULD':>6}  {'ERRORS':>6}"
    )
    for r in runs:
        m = r.metrics
        click.echo(
            f"{r.id:>5}  {short_time(r.started_at):16}  {r.policy[:24]:24}  {r.namespace[:14]:14}  "
            f"{'dry-run' if r.dry_run else 'delete':7}  {r.status:11}  {m.images_scanned:>7}  "
            f"{m.deleted:>7}  {m.would_delete:>6}  {m.errors:>6}"
        )


@runs_group.command("show")
@click.argument("run_id", type=RUN_ID)
@click.option("--json", "as_json", is_flag=True)
@click.option("--all", "show_all", is_flag=True, help="Include kept images.")
@click.pass_obj
@handle_errors
def runs_show(app: App, run_id: int, as_json: bool, show_all: bool) -> None:
    """Show one run and its per-image decisions."""
    store = app.store()
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run with id {run_id} (see `janitor runs list`)")
    items = [i for i in store.decisions(run_id) if show_all or as_json or i.verdict == "delete"]
    if as_json:
        body = run_to_json(run) | {"decisions": [decision_to_json(i) for i in items]}
        click.echo(json.dumps(body, indent=2))
        return
    m = run.metrics
    click.echo(f"run #{run.id}: policy {run.policy}, namespace {run.namespace}, {run.status}")
    click.echo(
        f"  {'dry run' if run.dry_run else 'delete run'}, trigger {run.trigger}, backend "
        f"{run.backend}, started {short_time(run.started_at)} UTC, finished "
        f"{short_time(run.finished_at, never='-')}"
    )
    if run.plan_hash:
        click.echo(f"  applied the saved plan {run.plan_hash}")
    if run.error:
        click.echo(f"  error: {run.error}")
    for note in run.notes:
        click.echo(f"  note: {note}")
    click.echo(
        f"  scanned {m.repositories_scanned} repositories / {m.images_scanned} images; "
        f"{m.planned_deletes} planned, {m.deleted} deleted, {m.would_delete} would delete, "
        f"{m.skipped_by_warning} skipped, {m.errors} errors; reclaimed "
        f"{human_bytes(m.bytes_reclaimed)}; {m.hub_calls} Hub calls"
    )
    h = run.hub_metrics
    click.echo(
        f"  Hub metrics: manifest_deletes {h.manifest_deletes}, manifest_errors "
        f"{h.manifest_errors}, tag_deletes {h.tag_deletes}, tag_errors {h.tag_errors}"
    )
    if run.report_path:
        click.echo(f"  report: {run.report_path}")
    for i in items:
        tags = ",".join(i.tags) or "-"
        click.echo(
            f"  {i.outcome:15} {i.repository}@{short_digest(i.digest)}  tags {tags}  pushed "
            f"{short_time(i.last_pushed, never='unknown')}  pulled {short_time(i.last_pulled)}"
        )
        detail = i.detail or (i.reasons[0] if i.reasons else "")
        if detail:
            click.echo(f"      {detail}")


@cli.group("db")
def db_group() -> None:
    """The run database (SQLite by default, PostgreSQL by URL)."""


@db_group.command("upgrade")
@click.pass_obj
@handle_errors
def db_upgrade(app: App) -> None:
    """Apply the database migrations (Alembic) up to the newest."""
    from janitor.store import Store

    store = Store(app.settings.database_url)
    try:
        store.upgrade()
        click.echo(f"database at revision {store.current_revision()}")
    finally:
        store.close()
