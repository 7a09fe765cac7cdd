"""`janitor run`: run policies once against Docker Hub."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from janitor.cli.app import App, cli, handle_errors, progress_printer
from janitor.engine import PolicyBusy, RunContext, decide_mode, run_policy
from janitor.errors import UsageError
from janitor.planner import Planner
from janitor.policy import Policy
from janitor.records import RunRecord
from janitor.reporting import mailer_from_settings
from janitor.serialize import run_to_json
from janitor.units import human_bytes


@dataclass
class RunResults:
    """What `janitor run` did: each finished run with its report file (None: not written), and
    each policy it could not run because another process was running it."""

    finished: list[tuple[RunRecord, Path | None]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.busy and all(
            r.status == "succeeded" and path is not None for r, path in self.finished
        )


def run_policies(
    app: App,
    policies: Sequence[Policy],
    *,
    dry_run_flag: bool,
    apply_flag: bool,
    trigger: str,
    quiet: bool,
    planner: Planner | None = None,
) -> RunResults:
    """Run each policy through the one run path (``janitor.engine.run_policy``).
    ``planner``: where the plan of the (one) policy comes from; default: its evaluation."""
    ctx = RunContext(
        settings=app.settings,
        store=app.store(),
        hub_factory=app.hub_client,
        progress=progress_printer(not quiet),
    )
    app.hub_client().close()  # a configuration mistake is exit 2 before any run starts
    modes = [
        decide_mode(
            p,
            dry_run_flag=dry_run_flag,
            apply_flag=apply_flag,
            service=False,
            settings=app.settings,
        )
        for p in policies
    ]
    if not all(mode.dry_run for mode in modes):
        ctx.store.check_for_deletes()  # exit 2 before any run, not after the first ones
    mailer = mailer_from_settings(app.settings)
    results = RunResults()
    for policy in policies:
        try:
            done = run_policy(
                ctx,
                policy,
                trigger=trigger,
                mailer=mailer,
                dry_run_flag=dry_run_flag,
                apply_flag=apply_flag,
                on_note=None if quiet else _print_note,
                planner=planner,
            )
        except PolicyBusy as exc:
            results.busy.append(str(exc))
            continue
        finally:
            if ctx.progress:
                click.echo("\r\033[K", err=True, nl=False)
        results.finished.append((done.record, done.report))
    return results


def _print_note(note: str) -> None:
    click.echo(f"note: {note}", err=True)


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
        click.echo(json.dumps([run_to_json(r) for r, _ in results.finished], indent=2))
    else:
        for record, path in results.finished:
            for line in summary_lines(record, path):
                click.echo(line)
    for conflict in results.busy:
        click.echo(f"error: {conflict}", err=True)
    if not results.ok:
        click.get_current_context().exit(1)
