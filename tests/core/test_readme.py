"""The README is tested: every `janitor ...` command line in its shell code blocks names
commands and options that exist (checked with click's own parser against the real command tree,
without running anything), every command has help text and is shown in the README, and the two
"Try it" commands that `.ci/run` runs are found there."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

from janitor.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL_OPERATORS = frozenset({"&&", "||", "|", ";", "&", "(", ")"})
REDIRECTION = re.compile(r"[<>]+&?|&>+")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _load_readme_commands() -> ModuleType:
    """`.ci/readme_commands.py`, the one reader of the README's code blocks."""
    path = ROOT / ".ci" / "readme_commands.py"
    spec = importlib.util.spec_from_file_location("readme_commands", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


readme_commands = _load_readme_commands()


def janitor_invocations(command_line: str) -> list[list[str]]:
    """The argument lists of each `janitor` invocation in a shell command line: split at the
    shell's operators; leading `VAR=value` assignments skipped; `[...]` marking optional parts
    and `...` dropped (the README's usage notation)."""
    lexer = shlex.shlex(command_line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    segments: list[list[str]] = [[]]
    skip = False
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if skip:  # a redirection's target
            skip = False
        elif token in SHELL_OPERATORS:
            segments.append([])
        elif REDIRECTION.fullmatch(token):
            skip = True
        elif not (token.isdigit() and REDIRECTION.fullmatch(following)):  # the 2 of 2>&1
            segments[-1].append(token)
    found = []
    for words in segments:
        while words and ASSIGNMENT.match(words[0]):
            words = words[1:]
        if words[:1] == ["janitor"]:
            args = [w.strip("[]") for w in words[1:]]
            found.append([a for a in args if a and a != "..."])
    return found


def readme_invocations() -> list[tuple[int, list[str]]]:
    """(README line, arguments) of every `janitor` invocation in a shell code block."""
    found = []
    for block in readme_commands.code_blocks(README):
        if block.language not in readme_commands.SHELL_LANGUAGES:
            continue
        for line, command_line in readme_commands.shell_lines(block):
            found.extend((line, args) for args in janitor_invocations(command_line))
    return found


def command_path(args: list[str]) -> tuple[str, ...]:
    """The command a janitor argument list runs (``("runs", "show")``), parsed by click's own
    parser on the real command tree without converting values, so placeholders like `ID` and
    shell variables pass. Raises click.UsageError for an unknown command or option, an option
    without its value, or an argument too many."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="janitor")
    path: list[str] = []
    rest = list(args)
    while True:
        _, leftover, _ = command.make_parser(ctx).parse_args(list(rest))
        if not isinstance(command, click.Group):
            if leftover:
                raise click.UsageError(f"unexpected extra arguments {leftover}", ctx)
            return tuple(path)
        if not leftover:
            return tuple(path)
        name, *rest = leftover
        sub = command.get_command(ctx, name)
        if sub is None:
            raise click.UsageError(f"no command {name!r} in `janitor {' '.join(path)}`", ctx)
        path.append(name)
        ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


def lookup(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        sub = command.get_command(click.Context(command), name)
        assert sub is not None
        command = sub
    return command


INVOCATIONS = readme_invocations()
INLINE_CODE = re.compile(r"(?<!`)`(janitor [^`]+)`(?!`)")


def inline_command_paths(text: str) -> set[tuple[str, ...]]:
    """The commands named by inline code spans of the prose (`janitor runs list|show [--json]`):
    the leading words that are command names, `a|b` read as either."""
    found: set[tuple[str, ...]] = set()
    for match in INLINE_CODE.finditer(text):
        paths: list[tuple[str, ...]] = [()]
        for word in match[1].split()[1:]:
            longer = [
                (*path, name)
                for path in paths
                for name in word.split("|")
                if isinstance(group := lookup(path), click.Group)
                and group.get_command(click.Context(group), name) is not None
            ]
            if not longer:
                break
            paths = longer
        found.update(path for path in paths if path)
    return found


def shown_command_paths() -> set[tuple[str, ...]]:
    """Every command the README shows, with the groups above it."""
    paths = {command_path(args) for _, args in INVOCATIONS} | inline_command_paths(README)
    return {path[:n] for path in paths for n in range(1, len(path) + 1)}


def test_the_readme_has_janitor_commands_in_its_code_blocks() -> None:
    assert len(INVOCATIONS) >= 10, INVOCATIONS


@pytest.mark.parametrize(
    "args", [args for _, args in INVOCATIONS], ids=[f"line{line}" for line, _ in INVOCATIONS]
)
def test_every_janitor_command_line_in_the_readme_parses(args: list[str]) -> None:
    command_path(args)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["runz", "list"], "no command 'runz'"),
        (["runs", "list", "--jsn"], "--jsn"),
        (["plan", "--policy"], "--policy"),
        (["db", "upgrade", "extra"], "extra"),
        (["--policy", "x", "plan"], "--policy"),
    ],
)
def test_a_wrong_command_line_is_caught(args: list[str], problem: str) -> None:
    with pytest.raises(click.UsageError, match=re.escape(problem)):
        command_path(args)


def test_shell_syntax_and_usage_notation_are_understood() -> None:
    line = "X=1 pip install . && janitor --policies $P demo 2>&1 >out | tee log  # comment"
    assert janitor_invocations(line) == [["--policies", "$P", "demo"]]
    assert janitor_invocations("janitor serve [--port 9464] [--once-at-start]") == [
        ["serve", "--port", "9464", "--once-at-start"]
    ]
    assert janitor_invocations("docker run --rm img janitor schedule") == []
    assert command_path(["runs", "show", "ID", "--json"]) == ("runs", "show")
    assert inline_command_paths("see `janitor runs list|show [--json]` and `janitor nope`") == {
        ("runs", "list"),
        ("runs", "show"),
    }


@pytest.mark.parametrize("path", all_commands(cli), ids=" ".join)
def test_every_command_has_help_and_is_shown_in_the_readme(path: tuple[str, ...]) -> None:
    command = lookup(path)
    assert (command.help or "").strip(), f"`janitor {' '.join(path)}` has no help text"
    assert path in shown_command_paths(), f"the README never shows `janitor {' '.join(path)}`"


def test_the_try_it_block_holds_the_two_commands_ci_runs() -> None:
    commands = readme_commands.try_it_commands(README)
    assert commands == [
        "pip install . && janitor demo",
        "pip install -e '.[test]' && pytest",
    ]


def test_a_try_it_block_of_another_shape_is_refused() -> None:
    three = "## Try it\n\n```sh\na\n# note\nb \\\n  c\nd\n```\n"
    with pytest.raises(readme_commands.ReadmeShapeError, match="holds 3 commands"):
        readme_commands.try_it_commands(three)
    assert readme_commands.try_it_commands(three.replace("d\n", "")) == ["a", "b    c"]
    with pytest.raises(readme_commands.ReadmeShapeError, match="no shell code block"):
        readme_commands.try_it_commands("## Try it\n\n```yaml\na: 1\n```\n")
    with pytest.raises(readme_commands.ReadmeShapeError, match="never closed"):
        readme_commands.code_blocks("```sh\nrun\n")
