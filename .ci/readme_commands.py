#!/usr/bin/env python3
"""Print the README's "Try it" commands, one per line, exactly as the README writes them.

`.ci/run` runs what this prints, so CI runs the README itself and not a copy that could drift
from it. The commands are the lines of the first fenced shell block under the heading that starts
with "## Try it", less comments and blank lines (a line ending in a backslash continues on the
next). Anything else than exactly two commands there is an error (exit 2): the README changed
shape and CI must say so rather than run something else.

    python .ci/readme_commands.py [README.md]

tests/core/test_readme.py imports this file for its code-block reader.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

SECTION = "## Try it"
SHELL_LANGUAGES = frozenset({"", "sh", "bash", "shell", "console"})
EXPECTED = 2
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@dataclass(frozen=True)
class CodeBlock:
    language: str
    first_line: int  # 1-based line number of the block's first content line
    lines: tuple[str, ...]
    section: str  # the nearest "## " heading above the block ("" before any)


class ReadmeShapeError(ValueError):
    """The README does not hold what the caller looks for."""


def code_blocks(text: str) -> list[CodeBlock]:
    """Fenced code blocks of a Markdown text (CommonMark fences: ``` or ~~~, at least three)."""
    blocks: list[CodeBlock] = []
    section = ""
    fence: str | None = None
    language = ""
    start = 0
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is None:
            match = _FENCE.match(line)
            if match:
                fence = match["fence"]
                language = match["info"].strip().split(" ")[0].lower() if match["info"] else ""
                start, body = number + 1, []
            elif line.startswith("## "):
                section = line.strip()
            continue
        if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
            blocks.append(CodeBlock(language, start, tuple(body), section))
            fence = None
            continue
        body.append(line)
    if fence is not None:
        raise ReadmeShapeError(f"a code block opened at line {start - 1} is never closed")
    return blocks


def shell_lines(block: CodeBlock) -> list[tuple[int, str]]:
    """(line number, command) of a shell block: comments and blank lines dropped, lines ending in
    a backslash joined with the next. A trailing `# comment` stays: the shell ignores it."""
    commands: list[tuple[int, str]] = []
    pending = ""
    pending_line = 0
    for offset, raw in enumerate(block.lines):
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            pending_line = block.first_line + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append((pending_line, (pending + line).strip()))
        pending = ""
    if pending:
        commands.append((pending_line, pending.strip()))
    return commands


def try_it_commands(readme: str) -> list[str]:
    """The commands of the README's "Try it" block, exactly two, or ReadmeShapeError."""
    blocks = [
        b
        for b in code_blocks(readme)
        if b.section.startswith(SECTION) and b.language in SHELL_LANGUAGES
    ]
    if not blocks:
        raise ReadmeShapeError(f"no shell code block under a heading starting with {SECTION!r}")
    commands = [command for _, command in shell_lines(blocks[0])]
    if len(commands) != EXPECTED:
        raise ReadmeShapeError(
            f"the {SECTION!r} block (line {blocks[0].first_line}) holds {len(commands)} "
            f"commands, expected {EXPECTED}: {commands}"
        )
    return commands


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "README.md"
    try:
        commands = try_it_commands(path.read_text(encoding="utf-8"))
    except (OSError, ReadmeShapeError) as exc:
        sys.stderr.write(f"error: {path}: {exc}\n")
        return 2
    sys.stdout.write("".join(f"{command}\n" for command in commands))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
