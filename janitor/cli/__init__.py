"""The ``janitor`` command line. Thin: each command builds its objects, calls one library
function, prints, and maps errors to a one-line message and an exit code (0 ok, 1 a run failed,
2 bad input)."""

from __future__ import annotations

from janitor.cli.app import cli


def main() -> None:
    cli(prog_name="janitor")


__all__ = ["cli", "main"]

# Register the commands on the root group.
from janitor.cli import (  # noqa: E402,F401
    apply,
    completion,
    demo,
    policies,
    report,
    run,
    runs,
    serve,
    snapshot,
)
from janitor.emulator.cli import emulator as _emulator  # noqa: E402

cli.add_command(_emulator)
