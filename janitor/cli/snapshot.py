"""`janitor snapshot`: save a namespace's inventory in the emulator's seed format."""

from __future__ import annotations

from pathlib import Path

import click

from janitor.backends import collect_notes
from janitor.backends.select import namespace_backend
from janitor.cli.app import App, PathType, cli, handle_errors
from janitor.errors import UsageError
from janitor.fileio import output_target
from janitor.snapshot import write_snapshot


@cli.command("snapshot")
@click.argument("namespace")
@click.option(
    "-o",
    "--output",
    required=True,
    type=PathType(dir_okay=False, path_type=Path, allow_dash=True),
    help="File to write (YAML; .json for JSON; - for standard output).",
)
@click.pass_obj
@handle_errors
def snapshot_command(app: App, namespace: str, output: Path) -> None:
    """Save NAMESPACE's repositories and images to a file: plan offline with `janitor plan
    --snapshot FILE`, or serve it with `janitor emulator serve --seed FILE`."""
    if not namespace or namespace in (".", "..") or "/" in namespace or not namespace.isprintable():
        raise UsageError(f"{namespace!r} is not a Docker Hub namespace")
    target = output_target(output)  # refused before Hub is read
    with (
        app.hub_client() as client,
        namespace_backend(client, namespace, settings=app.settings) as backend,
    ):
        inventories = backend.inventory(
            namespace, repositories=lambda name: True, concurrency=app.settings.concurrency
        )
        notes: list[str] = []
        count = write_snapshot(collect_notes(inventories, notes), namespace, target)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {count} images of {namespace} to {target.given}", err=target.way == "stdout")
