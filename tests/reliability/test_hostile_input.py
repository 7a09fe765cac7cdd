"""Hostile input (issue 20, point 5): every bad value is one line on stderr and exit 2, never an
"internal error" or a traceback, and `policies check` refuses exactly what `plan` and `run`
would refuse.

Each case here was found by trying it against janitor: an impossible date, numbers Python will
not turn into text (over 4,300 digits, or 20,000 binary digits that pass the schema and then
break the plan's rendering), a megabyte of ``{}`` items, a NUL byte in the database URL, a
database driver that is not installed, an emulator of 10^16 images, and a reader of standard
output that goes away.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from janitor.cli import cli
from janitor.emulator.server import RunningEmulator
from janitor.policy.load import MAX_VALUES
from tests.reliability.conftest import EmulatorFactory, cli_env, subprocess_env
from tests.runs.conftest import seed

PREFIX = """\
name: hostile
namespace: acme
mode: dry-run
"""
SELECT = """\
select:
  - currently_tagged: false
    last_pushed: {older_than: 30d}
"""

# name -> (policy text, the line and field the error must name, a fragment of its message)
POLICIES: dict[str, tuple[str, str, str]] = {
    "impossible date": (
        PREFIX + "select:\n  - last_pushed: {older_than: 2020-02-30}\n",
        ":5: select[0].last_pushed.older_than: ",
        "'2020-02-30' is not a real date or time",
    ),
    "impossible hour": (
        PREFIX + "select:\n  - tags: [2020-01-01 25:00:00]\n",
        ":5: select[0].tags[0]: ",
        "is not a real date or time",
    ),
    "4,301 decimal digits": (
        PREFIX + SELECT + "keep:\n  - most_recent: " + "1" * 4301 + "\n",
        ":8: keep[0].most_recent: ",
        "is too large a number",
    ),
    "20,000 binary digits": (
        PREFIX + SELECT + "keep:\n  - most_recent: 0b" + "1" * 20_000 + "\n",
        ":8: keep[0].most_recent: ",
        "is too large a number",
    ),
    "beyond 64 bits": (
        PREFIX + SELECT + "limits: {max_deletes: 99999999999999999999}\n",
        ":7: limits.max_deletes: ",
        "is too large a number",
    ),
    "more than a billion": (
        PREFIX + SELECT + "keep:\n  - most_recent: 2000000000\n",
        ":8: keep[0].most_recent: ",
        "2000000000 is more than 1,000,000,000, the most allowed",
    ),
    "a duration of 5,000 digits": (
        PREFIX + "select:\n  - last_pushed: {older_than: " + "9" * 5000 + "d}\n",
        ":5: select[0].last_pushed.older_than: ",
        "is longer than 100 years",
    ),
    "a megabyte of {} items": (
        PREFIX + "select: [" + ",".join(["{}"] * 340_000) + "]\n",  # just under 1 MiB
        ":4: ",
        f"holds more than {MAX_VALUES} values",
    ),
}


def janitor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def janitor_process(
    env: dict[str, str], *args: str, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`janitor ARGS` in a child process with ``env`` (text output captured unless ``kwargs``
    say otherwise), bounded by a generous limit: a hang fails the test instead of the suite."""
    options: dict[str, Any] = {"capture_output": True, "text": True} | kwargs
    return subprocess.run(
        [sys.executable, "-c", "from janitor.cli import main; main()", *args],
        env=subprocess_env(env),
        timeout=120,
        check=False,
        **options,
    )


def assert_refused(result: Result, *fragments: str, code: int = 2) -> list[str]:
    """Exit ``code``, every stderr line short and janitor's own, the fragments on one line."""
    assert result.exit_code == code, (result.exit_code, result.output[-2000:])
    lines = result.stderr.splitlines()
    assert lines, "no error line"
    assert not any("internal error" in line or "Traceback" in line for line in lines), lines
    assert all(len(line) < 500 for line in lines), [len(line) for line in lines]
    assert any(all(f in line for f in fragments) for line in lines), (fragments, lines)
    return lines


@pytest.fixture
def hub(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return emulator_factory()


@pytest.mark.parametrize("case", list(POLICIES))
def test_a_hostile_policy_is_refused_alike_by_check_plan_and_run(
    case: str, hub: RunningEmulator, tmp_path: Path
) -> None:
    """`policies check` refuses it at its line and field; `plan` (offline and against Hub) and
    `run` refuse it the same way; nothing is run."""
    text, where, message = POLICIES[case]
    folder = tmp_path / "policies"
    folder.mkdir()
    policy = folder / "hostile.yaml"
    policy.write_text(text)
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text(yaml.safe_dump({"namespaces": seed()["namespaces"]}))
    env = cli_env(hub, tmp_path)

    checked = janitor(env, "policies", "check")
    lines = assert_refused(checked, f"error: {policy}{where}", message)
    for args in (
        ("plan", "--snapshot", str(snapshot)),
        ("plan",),
        ("run", "--dry-run"),
        ("run", "--apply"),
    ):
        assert assert_refused(janitor(env, *args), message) == lines, args
    assert not [e for e in hub.log.entries() if e.path.endswith("/delete-images")]


def test_what_check_accepts_plan_and_run_accept(hub: RunningEmulator, tmp_path: Path) -> None:
    """The largest values a policy may hold pass check, and then plan and run too."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "edge.yaml").write_text(
        PREFIX
        + SELECT
        + "keep:\n  - most_recent: 1000000000\n  - tags: ['0b1111']\n"
        + "limits: {max_deletes: 1000000000}\n"
    )
    env = cli_env(hub, tmp_path)
    for args in (("policies", "check"), ("plan",), ("run", "--dry-run")):
        result = janitor(env, *args)
        assert result.exit_code == 0, (args, result.output)


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "dangling"])
def test_a_policy_that_is_no_regular_file_is_reported(tmp_path: Path, kind: str) -> None:
    """In a folder, a FIFO or a link to a device named *.yaml is an error, not skipped (and
    not read: a FIFO would block forever, /dev/zero never ends)."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "good.yaml").write_text(PREFIX + SELECT)
    odd = folder / "odd.yaml"
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.symlink_to(kind if kind != "dangling" else tmp_path / "gone.yaml")
    problem = {
        "fifo": "is a FIFO (named pipe), not a regular file",
        "/dev/zero": "is a character device, not a regular file",
        "dangling": "cannot be read: No such file or directory",
    }[kind]
    env = {"JANITOR_DATA_DIR": str(tmp_path / "data")}
    for target in (folder, odd) if kind != "dangling" else (folder,):
        result = janitor(env, "policies", "check", str(target))
        assert_refused(result, f"error: {odd}: {problem}")


def test_a_nul_byte_in_database_url_of_janitor_toml(tmp_path: Path) -> None:
    config = tmp_path / "janitor.toml"
    config.write_text('database_url = "sqlite:////tmp/a\\u0000b.db"\n')
    result = janitor({"JANITOR_DATA_DIR": str(tmp_path)}, "--config", str(config), "runs", "list")
    assert_refused(result, "error: JANITOR_DATABASE_URL: ", "contains a NUL character")


@pytest.mark.parametrize(
    ("url", "missing"),
    [
        ("postgresql+asyncpg://janitor:s3cret@127.0.0.1/janitor", "asyncpg"),
        ("postgresql+pg8000://janitor:s3cret@127.0.0.1/janitor", "pg8000"),
        ("sqlite+pysqlcipher://:s3cret@/janitor.db", "pysqlcipher3"),
    ],
)
def test_a_database_driver_that_is_not_installed(tmp_path: Path, url: str, missing: str) -> None:
    env = {"JANITOR_DATA_DIR": str(tmp_path), "JANITOR_DATABASE_URL": url}
    result = janitor(env, "runs", "list")
    assert_refused(result, "error: JANITOR_DATABASE_URL: ", f"driver {missing!r}", "not installed")
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://janitor:s3cret@127.0.0.1/janitor", "unsupported database mysql://"),
        ("nosuch+driver://janitor:s3cret@h/db", "unsupported database nosuch+driver://"),
    ],
)
def test_a_database_janitor_does_not_speak(tmp_path: Path, url: str, fragment: str) -> None:
    env = {"JANITOR_DATA_DIR": str(tmp_path), "JANITOR_DATABASE_URL": url}
    result = janitor(env, "runs", "list")
    assert_refused(result, "error: JANITOR_DATABASE_URL: ", fragment)
    assert "s3cret" not in result.output


def test_a_number_too_long_in_janitor_toml(tmp_path: Path) -> None:
    config = tmp_path / "janitor.toml"
    config.write_text("concurrency = " + "9" * 5000 + "\n")
    result = janitor({"JANITOR_DATA_DIR": str(tmp_path)}, "--config", str(config), "runs", "list")
    assert_refused(result, f"error: {config}: not valid TOML: a number is too long")


@pytest.mark.parametrize(
    ("size", "fragment"),
    [
        ("99999999x99999999", "99999999x99999999 is too large: at most 100,000 repositories"),
        ("1x100001", "is too large"),
        ("9" * 5000 + "x1", "expected REPOSxIMAGES"),
    ],
)
def test_an_emulator_too_large_to_generate(size: str, fragment: str) -> None:
    result = janitor({}, "emulator", "serve", "--generate", size, "--port", "0")
    assert_refused(result, "error: Invalid value for --generate: ", fragment)


def test_a_reader_that_goes_away_ends_janitor_quietly(tmp_path: Path) -> None:
    """`janitor runs show N | head`: when the reader of standard output has gone, janitor
    ends without a word, with the status of a process that SIGPIPE ended (141), like `cat`."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = janitor_process(
            {"JANITOR_DATA_DIR": str(tmp_path)},
            "runs",
            "list",
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=False,
            capture_output=False,
        )
    finally:
        os.close(write_end)
    said = [line for line in done.stderr.decode().splitlines() if " INFO " not in line]
    assert said == []  # not "error: Broken pipe", nor Python's "Exception ignored ..."
    assert done.returncode == 128 + signal.SIGPIPE


def _snapshot_with_size(size: str) -> str:
    return (
        "namespaces:\n  acme:\n    repositories:\n      web:\n        images:\n"
        f'          - digest: "sha256:{"a" * 64}"\n'
        '            last_pushed: "2020-01-01T00:00:00Z"\n'
        "            last_pulled: null\n"
        f"            size: {size}\n"
        "            tags: []\n"
    )


@pytest.mark.parametrize("size", ["0b" + "1" * 20_000, '"big"', "-5", "[1]", "1.5"])
def test_a_snapshot_with_an_impossible_size(tmp_path: Path, size: str) -> None:
    """A size that is no byte count used to pass the snapshot loader and break the plan's
    totals (TypeError, OverflowError) or print "-5 B to free"."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "untagged.yaml").write_text("namespace: acme\nselect:\n  - currently_tagged: false\n")
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text(_snapshot_with_size(size))
    env = {"JANITOR_DATA_DIR": str(tmp_path), "JANITOR_POLICIES": str(folder)}
    for args in (
        ("plan", "--snapshot", str(snapshot)),
        ("plan", "--json", "--snapshot", str(snapshot)),
    ):
        assert_refused(janitor(env, *args), "images[0]: size: expected a whole number of bytes")
    seed_file = janitor({}, "emulator", "serve", "--seed", str(snapshot), "--port", "0")
    assert_refused(
        seed_file,
        "error: Invalid value for --seed: ",
        "images[0].size: expected a non-negative integer",
    )


def test_documents_nested_too_deeply(tmp_path: Path) -> None:
    """100,000 nested brackets: Python's parsers give up with a RecursionError, which was an
    internal error; now a line naming the file."""
    deep = "[" * 100_000 + "]" * 100_000
    snapshot = tmp_path / "deep.json"
    snapshot.write_text(deep)
    config = tmp_path / "deep.toml"
    config.write_text("a = " + deep + "\n")
    env = {"JANITOR_DATA_DIR": str(tmp_path)}
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(PREFIX + SELECT)
    env["JANITOR_POLICIES"] = str(tmp_path / "policies")
    assert_refused(janitor(env, "plan", "--snapshot", str(snapshot)), "nested too deeply")
    assert_refused(janitor(env, "--config", str(config), "runs", "list"), "nested too deeply")
    served = janitor({}, "emulator", "serve", "--seed", str(snapshot), "--port", "0")
    assert_refused(served, "--seed", "nested too deeply")
