"""`janitor apply`: delete exactly what a reviewed, saved plan holds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from janitor.cli.app import App, PathType, cli, handle_errors
from janitor.cli.run import run_policies, summary_lines
from janitor.engine import utcnow
from janitor.errors import RunFailed
from janitor.plans.apply import SavedPlanPlanner, planner_for
from janitor.serialize import run_to_json
from janitor.units import short_digest


@cli.command("apply")
@click.argument("plan_file", type=PathType(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dry-run", "dry_run_flag", is_flag=True, help="Check the plan and ask Hub's dry run only."
)
@click.option(
    "--allow-policy-change",
    is_flag=True,
    help="Apply although the policy file changed since the plan: only images both the plan "
    "and the policy now delete go.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_obj
@handle_errors
def apply_command(
    app: App, plan_file: Path, dry_run_flag: bool, allow_policy_change: bool, as_json: bool
) -> None:
    """Delete the images of a saved plan (`janitor plan --out plan.json`) and no others.

    Each image is checked against Hub first: one whose tags, push or pull time changed since the
    plan, or that a keep rule or the protect list now covers, is skipped with the reason. The
    policy's mode must be delete; Hub's dry run, warnings, limits and records are those of
    `janitor run --apply`. Refuses (exit 2) a plan older than JANITOR_PLAN_MAX_AGE, for another
    Hub or namespace, or whose policy changed since."""
    planner = planner_for(
        plan_file,
        lambda name: app.policies([name])[0],
        hub_url=app.settings.hub_url,
        now=utcnow(),
        max_age=app.settings.plan_max_age,
        allow_policy_change=allow_policy_change,
    )
    results = run_policies(
        app,
        [planner.policy],
        dry_run_flag=dry_run_flag,
        apply_flag=True,
        trigger="apply",
        quiet=as_json,
        planner=planner,
    )
    if results.busy:
        raise RunFailed(results.busy[0])
    ((record, report),) = results.finished
    if as_json:
        skipped = [
            {"repository": s.repository, "digest": s.digest, "reason": s.reason}
            for s in planner.skipped
        ]
        click.echo(json.dumps(run_to_json(record) | {"skipped": skipped}, indent=2))
    else:
        for line in summary_lines(record, report) + plan_lines(plan_file, planner):
            click.echo(line)
    if not results.ok:
        click.get_current_context().exit(1)


def plan_lines(path: Path, planner: SavedPlanPlanner) -> list[str]:
    lines = [
        f"  plan: {path} ({planner.plan_hash}): {planner.planned} planned to delete, "
        f"{len(planner.skipped)} skipped as changed since"
    ]
    lines += [
        f"  skipped {s.repository} {short_digest(s.digest)}: {s.reason}" for s in planner.skipped
    ]
    return lines
