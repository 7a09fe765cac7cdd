"""`janitor completion bash|zsh|fish`: the scripts load, and bash really completes janitor's
commands and options through them (bash runs the script's function, which runs janitor)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from janitor.cli import cli


def script(shell: str) -> str:
    result = CliRunner().invoke(cli, ["completion", shell], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F _janitor_completion janitor"), ("zsh", "#compdef janitor"),
     ("fish", "complete --no-files --command janitor")],
)  # fmt: skip
def test_each_shell_gets_its_script(shell: str, marker: str) -> None:
    assert marker in script(shell)


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh"])
    assert result.exit_code == 2


@pytest.fixture
def janitor_on_path(tmp_path: Path) -> dict[str, str]:
    """A `janitor` on PATH that runs this interpreter's janitor, as the installed script does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "janitor"
    shim.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c "from janitor.cli import main; main()"\n'
    )
    shim.chmod(0o755)
    (tmp_path / "completion.bash").write_text(script("bash"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JANITOR_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["janitor", "pol"], {"policies"}),
        (["janitor", "policies", ""], {"check", "schema"}),
        (["janitor", "runs", "list", "--j"], {"--json"}),
        (["janitor", "completion", ""], {"bash", "zsh", "fish"}),
    ],
)
def test_bash_completes_commands_and_options(
    janitor_on_path: dict[str, str], tmp_path: Path, words: list[str], expected: set[str]
) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {tmp_path / 'completion.bash'}; COMPREPLY=(); COMP_WORDS=({quoted}); "
        f"COMP_CWORD={len(words) - 1}; _janitor_completion janitor; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        [bash, "-c", program], env=janitor_on_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == expected, result.stdout + result.stderr
