"""`janitor demo`: a real dry run of the example policies against the bundled emulator."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import yaml

from janitor.cli.app import App, PathType, cli, handle_errors
from janitor.cli.run import run_policies, summary_lines
from janitor.config import Secret
from janitor.errors import UsageError
from janitor.units import human_bytes, short_digest, short_time

SAMPLE_SEED = Path(__file__).resolve().parent.parent / "emulator" / "data" / "sample-seed.yaml"


def _demo_user(seed: Path) -> tuple[str, str]:
    data = yaml.safe_load(seed.read_text(encoding="utf-8")) or {}
    for user in data.get("users") or []:
        secret = (user.get("tokens") or [None])[0] or user.get("password")
        if user.get("username") and secret and not user.get("otp"):
            return str(user["username"]), str(secret)
    raise UsageError(f"{seed}: the seed has no user without 2FA for the demo to log in as")


@cli.command("demo")
@click.option(
    "--seed",
    type=PathType(exists=True, dir_okay=False, path_type=Path),
    default=SAMPLE_SEED,
    show_default="the bundled sample namespace `acme`",
    help="Seed file for the emulator.",
)
@click.pass_obj
@handle_errors
def demo_command(app: App, seed: Path) -> None:
    """Start the Docker Hub emulator on loopback with a sample namespace, dry-run the example
    policies against it (SQLite, the default store), print what would be deleted and write the
    HTML report. Nothing leaves this machine."""
    from janitor.emulator.server import start_emulator
    from janitor.emulator.state import load_seed

    username, secret = _demo_user(seed)
    if not app.verbose:  # the demo prints its own summary; -v shows the log lines too
        logging.getLogger("janitor").setLevel(logging.ERROR)
    with start_emulator(load_seed(seed)) as emulator:
        click.echo(f"emulated Docker Hub at {emulator.url} (seed {seed})")
        app.settings = app.settings.with_overrides(
            hub_url=emulator.url, hub_username=username, hub_token=Secret(secret)
        )
        policies = app.policies()
        click.echo(f"dry run of {len(policies)} policies from {app.settings.policies}")
        results = run_policies(
            app, policies, dry_run_flag=True, apply_flag=False, trigger="demo", quiet=False
        )
        calls = emulator.log.count()
    store = app.store()
    for record, path in results.finished:
        click.echo("")
        for line in summary_lines(record, path):
            click.echo(line)
        for item in store.decisions(record.id, outcome="would_delete"):
            click.echo(
                f"    would delete {item.repository}@{short_digest(item.digest)} "
                f"tags [{', '.join(item.tags)}] pushed {short_time(item.last_pushed)} "
                f"pulled {short_time(item.last_pulled)}"
                + (f" {human_bytes(item.size)}" if item.size is not None else "")
            )
    click.echo("")
    click.echo(f"the emulator answered {calls} requests; nothing was deleted (dry run)")
    click.echo(f"database: {app.settings.database_url}")
    click.echo("next: `janitor runs list`, `janitor runs show ID`, `janitor plan` (see README)")
    for _, path in results.finished:
        if path is not None:
            click.echo(f"report: {path}")
