"""`janitor completion bash|zsh|fish`: the shell completion script, from click's own shell
completion (commands, options, choices and paths complete as the command tree defines them)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from janitor.cli.app import cli

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_JANITOR_COMPLETE"


@cli.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_command(shell: str) -> None:
    """Print the completion script for SHELL. Load it in the shell's start-up file:
    bash: eval "$(janitor completion bash)"; zsh: eval "$(janitor completion zsh)";
    fish: janitor completion fish | source."""
    completion_class = get_completion_class(shell)
    assert completion_class is not None  # click ships all three
    click.echo(completion_class(cli, {}, "janitor", COMPLETE_VAR).source())
