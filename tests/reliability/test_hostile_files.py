"""A hostile machine (issue 20, points 3 and 4): files janitor is told to read may be devices,
FIFOs or huge; paths it is told to write may be devices, FIFOs, links or folders.

- Every file read from user input (``JANITOR_HUB_TOKEN_FILE``, ``JANITOR_SMTP_PASSWORD_FILE``,
  ``JANITOR_CONFIG``/``--config``, ``plan --snapshot``, ``emulator serve --seed``) is a regular
  file under a cap: /dev/zero (GBs in seconds before), a FIFO (blocked forever before), a folder
  or an oversized file is one line naming the variable or option, exit 2.
- ``snapshot -o`` and ``report --out`` write through to ``-``, a FIFO or a character device,
  keep a symbolic link and write its target, refuse a folder, and turn a full device into one
  line with no stray file; nothing that is not a regular file is ever replaced.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from janitor.cli import cli
from janitor.emulator.server import RunningEmulator
from janitor.fileio import CONFIG_LIMIT, INVENTORY_LIMIT, SECRET_LIMIT
from tests.reliability.conftest import EmulatorFactory, cli_env
from tests.reliability.test_hostile_input import janitor_process
from tests.runs.conftest import USER, seed

POLICY = """\
name: untagged
namespace: acme
select:
  - currently_tagged: false
    last_pushed: {older_than: 30d}
"""


def janitor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def one_error(result: Result, *fragments: str, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.output[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "internal error" not in errors[0]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def special_file(tmp_path: Path, kind: str, limit: int) -> Path:
    """A path of ``kind``: /dev/zero, a FIFO, a folder, or a regular file one byte over
    ``limit`` (sparse: it costs no disk)."""
    if kind == "zero":
        return Path("/dev/zero")
    path = tmp_path / f"special-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        with path.open("wb") as handle:
            handle.truncate(limit + 1)
    return path


PROBLEMS = {
    "zero": "is a character device, not a regular file",
    "fifo": "is a FIFO (named pipe), not a regular file",
    "folder": "is a directory, not a regular file",
    "big": "is larger than",
}


@pytest.fixture
def hub(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return emulator_factory()


@pytest.fixture
def env(hub: RunningEmulator, tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "untagged.yaml").write_text(POLICY)
    return cli_env(hub, tmp_path)


# --------------------------------------------------------------------------- capped reads

# what names the file -> (how the command line is built, its cap)
READS: dict[str, tuple[str, int]] = {
    "JANITOR_HUB_TOKEN_FILE": ("env", SECRET_LIMIT),
    "JANITOR_SMTP_PASSWORD_FILE": ("env", SECRET_LIMIT),
    "JANITOR_CONFIG": ("env", CONFIG_LIMIT),
    "--config": ("option", CONFIG_LIMIT),
    "--snapshot": ("option", INVENTORY_LIMIT),
    "--seed": ("option", INVENTORY_LIMIT),
    "the plan": ("argument", INVENTORY_LIMIT),  # janitor apply PLAN
}


def read_command(name: str, path: Path, env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    env = dict(env)
    if name == "JANITOR_HUB_TOKEN_FILE":
        env.pop("JANITOR_HUB_TOKEN")
        return env | {name: str(path)}, ["plan"]
    if name == "JANITOR_SMTP_PASSWORD_FILE":
        smtp = {"JANITOR_SMTP_HOST": "127.0.0.1", "JANITOR_SMTP_USERNAME": USER}
        return env | smtp | {name: str(path)}, ["runs", "list"]
    if name == "JANITOR_CONFIG":
        return env | {name: str(path)}, ["runs", "list"]
    if name == "--config":
        return env, ["--config", str(path), "runs", "list"]
    if name == "--snapshot":
        return env, ["plan", "--snapshot", str(path)]
    if name == "the plan":
        return env, ["apply", str(path)]
    return env, ["emulator", "serve", "--seed", str(path), "--port", "0"]


@pytest.mark.parametrize("kind", ["zero", "folder", "big"])
@pytest.mark.parametrize("name", list(READS))
def test_a_file_to_read_is_a_regular_file_under_its_cap(
    env: dict[str, str], tmp_path: Path, name: str, kind: str
) -> None:
    path = special_file(tmp_path, kind, READS[name][1])
    command_env, args = read_command(name, path, env)
    result = janitor(command_env, *args)
    if kind == "folder" and name in ("--config", "--snapshot", "--seed", "the plan"):
        # click's own check of a file option comes first; still one line and exit 2
        one_error(result, "is a directory")
        return
    one_error(result, name, str(path), PROBLEMS[kind])


@pytest.mark.parametrize("name", list(READS))
def test_a_fifo_to_read_is_refused_at_once(env: dict[str, str], tmp_path: Path, name: str) -> None:
    """In a child process with a time limit: before the fix, opening the FIFO blocked forever."""
    path = special_file(tmp_path, "fifo", READS[name][1])
    command_env, args = read_command(name, path, env)
    done = janitor_process(command_env, *args)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and name in errors[0] and PROBLEMS["fifo"] in errors[0], errors


def test_a_secret_file_at_its_cap_is_read(env: dict[str, str], tmp_path: Path) -> None:
    """The cap is not a guess at the size of a token: a file of exactly 64 KiB is accepted."""
    token = tmp_path / "token"
    token.write_text(
        env["JANITOR_HUB_TOKEN"] + " " * (SECRET_LIMIT - len(env["JANITOR_HUB_TOKEN"]))
    )
    command_env = {k: v for k, v in env.items() if k != "JANITOR_HUB_TOKEN"}
    result = janitor(command_env | {"JANITOR_HUB_TOKEN_FILE": str(token)}, "plan")
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- outputs


def snapshot(env: dict[str, str], target: str | Path) -> Result:
    return janitor(env, "snapshot", "acme", "-o", str(target))


def weekly(env: dict[str, str], target: str | Path) -> Result:
    return janitor(env, "report", "--weekly", "--out", str(target))


def saved_plan(env: dict[str, str], target: str | Path) -> Result:
    return janitor(env, "plan", "--out", str(target), "--format", "markdown")


WRITERS = {"snapshot -o": snapshot, "report --out": weekly, "plan --out": saved_plan}


@pytest.fixture
def dev_entries() -> Iterator[None]:
    """Fails the test if /dev gained or lost an entry (a stray temp file, a replaced node)."""
    before = sorted(os.listdir("/dev"))
    yield
    assert sorted(os.listdir("/dev")) == before


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_full_device_is_one_error_and_no_stray_file(
    env: dict[str, str], writer: str, dev_entries: None
) -> None:
    result = WRITERS[writer](env, "/dev/full")
    one_error(result, "error: /dev/full: cannot write: No space left on device")
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_link_to_standard_output_stays_a_link(
    env: dict[str, str], tmp_path: Path, writer: str
) -> None:
    """Like /dev/stdout (a link to /proc/self/fd/1), in a folder of the test's own: the output
    goes to the process's standard output, and the link is still a link afterwards."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    args = {
        "snapshot -o": ["snapshot", "acme", "-o", str(link)],
        "report --out": ["report", "--weekly", "--out", str(link)],
        "plan --out": ["plan", "--out", str(link), "--format", "markdown"],
    }[writer]
    done = janitor_process(env, *args)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    if writer == "snapshot -o":
        assert "acme" in yaml.safe_load(done.stdout)["namespaces"]
    elif writer == "report --out":
        assert done.stdout.lstrip().startswith("<!DOCTYPE html>")
    else:
        assert done.stdout.startswith("#")  # the Markdown plan
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("stdout")) == ["stdout"]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_standard_output_by_dash(env: dict[str, str], writer: str) -> None:
    result = WRITERS[writer](env, "-")
    assert result.exit_code == 0, result.output
    if writer == "snapshot -o":
        assert "acme" in yaml.safe_load(result.stdout)["namespaces"]
        assert "wrote" in result.stderr  # the note about it does not mix with the YAML
    elif writer == "report --out":
        assert result.stdout.lstrip().startswith("<!DOCTYPE html>")
    else:
        assert result.stdout.startswith("#")


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_fifo_is_written_through(env: dict[str, str], tmp_path: Path, writer: str) -> None:
    fifo = tmp_path / "out.pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = WRITERS[writer](env, fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert received and received[0]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("out", ".out"))) == [
        "out.pipe"
    ]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_link_to_a_file_keeps_the_link(env: dict[str, str], tmp_path: Path, writer: str) -> None:
    real = tmp_path / "kept" / "real.out"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "current.out"
    link.symlink_to(real)
    assert WRITERS[writer](env, link).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() != "old"
    assert not [p for p in real.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_folder_is_refused_before_hub_is_read(
    env: dict[str, str], hub: RunningEmulator, tmp_path: Path, writer: str
) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    one_error(WRITERS[writer](env, folder), "is a directory")
    if writer != "report --out":
        assert not hub.log.entries()  # refused before the first call to Hub


def test_snapshot_to_a_file_then_plan_from_it(env: dict[str, str], tmp_path: Path) -> None:
    """The ordinary path still works: a regular file, replaced atomically, read back by plan."""
    out = tmp_path / "acme.json"
    out.write_text("old")
    assert snapshot(env, out).exit_code == 0
    assert janitor(env, "plan", "--snapshot", str(out)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir() if "acme" in p.name) == ["acme.json"]
    assert seed()["namespaces"].keys() <= yaml.safe_load(out.read_text())["namespaces"].keys()


def test_a_report_folder_that_cannot_hold_reports_after_a_run(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The run is recorded whatever happens to its report file; janitor says which file it
    could not write and ends with 1 (a run's trouble), and /dev/null stays a device."""
    result = janitor(env | {"JANITOR_REPORT_DIR": "/dev/null"}, "run", "--dry-run")
    assert result.exit_code == 1, result.output
    assert "cannot write there: Not a directory" in result.stderr
    assert "internal error" not in result.output
    assert "run #1 succeeded" in result.stdout
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_path_ending_in_a_slash_is_not_written_as_a_file(
    env: dict[str, str], tmp_path: Path, writer: str
) -> None:
    """`-o out/` used to write a file named `out` (the slash vanished with the Path)."""
    result = WRITERS[writer](env, f"{tmp_path / 'out'}/")
    one_error(result, "names a folder; a file is expected here")
    assert not (tmp_path / "out").exists()
