"""`janitor policies check` and `janitor plan`: validate policies and show what they would do."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from dateutil import parser as dateparser

from janitor.cli.app import App, PathType, cli, handle_errors
from janitor.errors import UsageError
from janitor.fileio import output_target
from janitor.plan import Plan
from janitor.plans.files import output_forms, render_outputs
from janitor.plans.make import plan_from_hub
from janitor.plans.saved import SNAPSHOT_BACKEND, plan_document
from janitor.policy import Policy, PolicyError, PolicyLoadError, evaluate, load_policies
from janitor.policy.render import plan_table, plan_to_json
from janitor.policy.schema import policy_json_schema


@cli.group("policies")
def policies_group() -> None:
    """Retention policies."""


@policies_group.command("check")
@click.argument("path", required=False, type=PathType(path_type=Path))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON: the valid policies, and every error with file, line, field "
    "and message (exit 2 on any error).",
)
@click.pass_obj
@handle_errors
def policies_check(app: App, path: Path | None, as_json: bool) -> None:
    """Validate a policy file or folder; one line per mistake, exit 2 on any."""
    folder = path or app.settings.policies
    if not folder.exists():
        raise UsageError(f"{folder}: no such file or folder")
    try:
        policies = load_policies(
            folder,
            allowed_namespaces=app.settings.namespaces or None,
            protect=app.settings.protect,
        )
    except PolicyLoadError as exc:
        if not as_json:
            raise
        click.echo(json.dumps(check_to_json([], exc.errors), indent=2))
        click.get_current_context().exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps(check_to_json(policies, []), indent=2))
        return
    _echo_protect_list(policies)
    for policy in policies:
        schedule = f", schedule {policy.schedule!r} ({policy.timezone})" if policy.schedule else ""
        click.echo(
            f"ok: {policy.source}: policy {policy.name!r} for namespace {policy.namespace}, "
            f"mode {policy.mode}{schedule}"
        )
    click.echo(f"{len(policies)} polic{'y' if len(policies) == 1 else 'ies'} valid")


def _echo_protect_list(policies: list[Policy]) -> None:
    protect = policies[0].protect if policies else None
    if protect is not None:
        scope = f"namespace {protect.namespace}" if protect.namespace else "every namespace"
        click.echo(
            f"ok: {protect.source}: protect list for {scope} ({len(protect.repositories)} "
            f"repository, {len(protect.tags)} tag, {len(protect.digests)} digest rules)"
        )


def check_to_json(policies: list[Policy], errors: list[PolicyError]) -> dict[str, object]:
    return {
        "valid": not errors,
        "policies": [
            {
                "file": str(p.source),
                "name": p.name,
                "namespace": p.namespace,
                "mode": p.mode,
                "schedule": p.schedule,
                "timezone": p.timezone,
            }
            for p in policies
        ],
        "errors": [
            {"file": str(e.file), "line": e.line, "field": e.field, "message": e.message}
            for e in errors
        ],
    }


@policies_group.command("schema")
def policies_schema() -> None:
    """Print the JSON Schema of a policy file, for editors: save it and point a
    `# yaml-language-server: $schema=...` line (or your editor's settings) at it."""
    click.echo(json.dumps(policy_json_schema(), indent=2))


MIN_AS_OF, MAX_AS_OF = 1970, 9000


def parse_as_of(value: str | None, option: str = "--as-of") -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = dateparser.isoparse(value)
    except (ValueError, OverflowError):
        raise UsageError(
            f"{option}: {value!r} is not a date (use ISO 8601, e.g. 2027-01-31 or "
            "2027-01-31T12:00:00Z)"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    # Policies subtract durations of years from it; the far ends of the calendar overflow.
    if not MIN_AS_OF <= moment.year <= MAX_AS_OF:
        raise UsageError(
            f"{option}: {value!r} is out of range (a date between the years {MIN_AS_OF} and "
            f"{MAX_AS_OF})"
        )
    return moment


@cli.command("plan")
@click.option("--policy", "names", multiple=True, help="Only this policy (repeatable).")
@click.option("--as-of", help="Evaluate as if it were this date (ISO 8601): what would go then.")
@click.option("--json", "as_json", is_flag=True, help="JSON a program can read.")
@click.option(
    "--snapshot",
    type=PathType(exists=True, dir_okay=False, path_type=Path),
    help="Plan offline against a snapshot file (from `janitor snapshot`) instead of Hub.",
)
@click.option("--kept/--no-kept", "show_kept", default=True, help="Show kept images too.")
@click.option(
    "--out",
    "outs",
    multiple=True,
    type=PathType(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the plan to a file: .json to apply with `janitor apply`, .md to review "
    "(repeatable: one evaluation, both forms; - for stdout).",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["json", "markdown"]),
    help="The form of the --out file, whatever its extension.",
)
@click.pass_obj
@handle_errors
def plan_command(
    app: App,
    names: tuple[str, ...],
    as_of: str | None,
    as_json: bool,
    snapshot: Path | None,
    show_kept: bool,
    outs: tuple[Path, ...],
    out_format: str | None,
) -> None:
    """Show what the policies would keep and delete, and why. Never calls a write endpoint."""
    now = parse_as_of(as_of)
    policies = app.policies(names)
    if outs:
        plan_to_files(app, policies, now, outs, out_format, snapshot)
        return
    plans = []
    notes: list[str] = []  # what janitor could not see (untagged images, where Hub hides them)
    if snapshot is not None:
        plans = snapshot_plans(snapshot, policies, now)
    else:
        with app.hub_client() as client:
            plans = [plan_from_hub(client, p, app.settings, now, notes)[0] for p in policies]
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(json.dumps([plan_to_json(p) for p in plans], indent=2))
        return
    for plan in plans:
        click.echo(plan_table(plan, show_kept=show_kept))


def snapshot_plans(snapshot: Path, policies: list[Policy], now: datetime) -> list[Plan]:
    """Each policy's plan against a snapshot file (from `janitor snapshot`)."""
    from janitor.snapshot import load_snapshot

    try:
        snapshot_inventories = load_snapshot(snapshot)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # load_snapshot checks the outline of the file; a wrong shape deeper down (a list
        # where a mapping belongs, a tag without its name) surfaces as one of these.
        raise UsageError(
            f"{snapshot}: not a valid snapshot ({type(exc).__name__}: {exc})"
        ) from None
    return [
        evaluate(
            (i for i in snapshot_inventories if i.repository.namespace == policy.namespace),
            policy,
            now,
        )
        for policy in policies
    ]


def plan_to_files(
    app: App,
    policies: list[Policy],
    now: datetime,
    outs: tuple[Path, ...],
    out_format: str | None,
    snapshot: Path | None,
) -> None:
    """`janitor plan --out`: one evaluation per policy, written in each form asked for."""
    targets = output_forms(outs, out_format, len(policies))
    for out in outs:
        output_target(out)  # a path janitor must not write is refused before Hub is read
    if snapshot is not None:
        plans = snapshot_plans(snapshot, policies, now)
        documents = [
            plan_document(plan, policy, hub_url=None, backend=SNAPSHOT_BACKEND)
            for policy, plan in zip(policies, plans, strict=True)
        ]
    else:
        plans, documents = [], []
        with app.hub_client() as client:
            for policy in policies:
                plan, backend = plan_from_hub(client, policy, app.settings, now)
                plans.append(plan)
                documents.append(
                    plan_document(plan, policy, hub_url=app.settings.hub_url, backend=backend)
                )
    outputs, plan_hash = render_outputs(documents, targets)
    for path, text in outputs:
        output_target(path).write_text(text)  # `-`, a FIFO or a device written through
    written = ", ".join(str(path) for path, _ in outputs if str(path) != "-")
    for plan in plans:
        click.echo(
            f"policy {plan.policy} ({plan.namespace}): {len(plan.to_delete)} to delete of "
            f"{len(plan.decisions)} images"
            + (f"; wrote {written}" if written else "")
            + (f" (plan {plan_hash})" if plan_hash else ""),
            err=True,
        )
