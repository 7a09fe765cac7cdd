"""The guards that stand between a policy and a delete: the namespaces janitor may touch, the
policy's limits, the two keys of a one-shot run, and the audit line written before each delete."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from janitor.cli import cli
from janitor.emulator.server import RunningEmulator
from janitor.engine import run_once
from janitor.hub.models import ManifestRef
from tests.reliability.conftest import UNTAGGED_POLICY, EmulatorFactory, Rig, cli_env

PLANNED = 4  # UNTAGGED_POLICY's plan in the lead's seed: 1 image of api, 3 of web


def janitor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def write(tmp_path: Path, text: str, name: str = "untagged.yaml") -> None:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)


def delete_calls(hub: RunningEmulator, *, dry_run: bool | None = None) -> int:
    return sum(
        1
        for e in hub.log.entries()
        if e.path.endswith("/delete-images")
        and isinstance(e.json, dict)
        and (dry_run is None or e.json.get("dry_run") is dry_run)
    )


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture
def hub(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return emulator_factory()


@pytest.mark.parametrize("command", [["run", "--apply"], ["plan"], ["run", "--dry-run"]])
def test_the_library_namespace_is_refused_at_load(
    hub: RunningEmulator, tmp_path: Path, command: list[str]
) -> None:
    """A policy for ``library`` (Docker Official Images) never loads: exit 2, nothing asked of
    Hub."""
    write(tmp_path, UNTAGGED_POLICY.replace("namespace: acme", "namespace: library"))
    result = janitor(cli_env(hub, tmp_path), *command)

    assert result.exit_code == 2, result.output
    assert any("library" in line for line in error_lines(result))
    assert hub.log.entries() == []


def test_a_namespace_outside_the_allow_list_is_refused_at_load(
    hub: RunningEmulator, tmp_path: Path
) -> None:
    """JANITOR_NAMESPACES=other: a policy for acme is refused (exit 2) before any Hub call; with
    acme allowed it runs."""
    write(tmp_path, UNTAGGED_POLICY)
    refused = janitor(cli_env(hub, tmp_path, JANITOR_NAMESPACES="other,more"), "run", "--apply")

    assert refused.exit_code == 2, refused.output
    assert any("acme" in line for line in error_lines(refused))
    assert hub.log.entries() == []
    allowed = janitor(cli_env(hub, tmp_path, JANITOR_NAMESPACES="other,acme"), "run", "--apply")
    assert allowed.exit_code == 0, allowed.output
    assert delete_calls(hub, dry_run=False) == 2


def test_library_in_the_allow_list_is_a_config_error(hub: RunningEmulator, tmp_path: Path) -> None:
    write(tmp_path, UNTAGGED_POLICY)
    result = janitor(cli_env(hub, tmp_path, JANITOR_NAMESPACES="acme,library"), "run")
    assert result.exit_code == 2 and "library" in result.stderr
    assert hub.log.entries() == []


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ("{max_deletes: 3}", "max_deletes"),
        ("{max_deletes: 100, max_fraction_per_repository: 0.4}", "max_fraction_per_repository"),
    ],
)
def test_a_policy_over_its_limits_stops_before_deleting(
    hub: RunningEmulator, tmp_path: Path, limits: str, named: str
) -> None:
    """4 planned deletes against max_deletes 3; web's 3 of 6 images against a fraction of 0.4.
    The run is refused whole, before even Hub's dry run: exit 1, the limit named, nothing sent."""
    write(
        tmp_path,
        UNTAGGED_POLICY.replace(
            "limits: {max_deletes: 100, max_fraction_per_repository: 1.0}", f"limits: {limits}"
        ),
    )
    before = {i.digest for r in ("api", "web") for i in hub.state.images("acme", r)}
    result = janitor(cli_env(hub, tmp_path), "run", "--apply")

    assert result.exit_code == 1, result.output
    assert named in result.stdout
    assert delete_calls(hub) == 0
    assert {i.digest for r in ("api", "web") for i in hub.state.images("acme", r)} == before


@pytest.mark.parametrize(
    ("require_apply", "args", "deletes"),
    [
        (None, ["run"], False),
        ("true", ["run"], False),
        ("false", ["run"], True),
        ("false", ["run", "--dry-run"], False),
        (None, ["run", "--apply"], True),
    ],
    ids=[
        "default-no-apply",
        "require-apply-no-apply",
        "require-apply-false",
        "require-apply-false-but-dry-run",
        "apply",
    ],
)
def test_mode_delete_needs_apply_unless_require_apply_is_false(
    hub: RunningEmulator,
    tmp_path: Path,
    require_apply: str | None,
    args: list[str],
    deletes: bool,
) -> None:
    """A `mode: delete` policy in a one-shot run: a dry run (that says how to apply) unless
    --apply is given or JANITOR_REQUIRE_APPLY=false; --dry-run always wins."""
    write(tmp_path, UNTAGGED_POLICY)
    extra = {"JANITOR_REQUIRE_APPLY": require_apply} if require_apply else {}
    result = janitor(cli_env(hub, tmp_path, **extra), *args)

    assert result.exit_code == 0, result.output
    assert (delete_calls(hub, dry_run=False) > 0) is deletes
    gone = PLANNED if deletes else 0
    assert f"{gone} deleted" in result.stdout if deletes else "dry run" in result.stdout
    if not deletes and "--dry-run" not in args:
        assert "janitor run --apply" in result.stderr


def test_each_delete_is_logged_with_its_digests_before_it_is_sent(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """At the moment a real delete-images call leaves janitor, an INFO line naming every digest
    of it (in full) is already in the log, and Hub's request log shows the call arriving after
    that line was written."""
    caplog.set_level(logging.DEBUG)
    seen: list[tuple[set[str], list[logging.LogRecord]]] = []

    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        if not dry_run and when == "before":
            digests = {m.digest for m in manifests}
            lines = [
                r
                for r in caplog.records
                if r.levelno == logging.INFO
                and r.name == "janitor.execute"
                and all(d in r.getMessage() for d in digests)
            ]
            seen.append((digests, lines))

    record = run_once(rig.hooked(hook), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "succeeded", record.error
    assert len(seen) == 2
    arrivals = [
        e
        for e in rig.hub.log.entries()
        if e.path.endswith("/delete-images") and isinstance(e.json, dict) and not e.json["dry_run"]
    ]
    for (digests, lines), arrival in zip(seen, arrivals, strict=True):
        assert len(lines) == 1, f"no single audit line for {digests}"
        (line,) = lines
        assert "\n" not in line.getMessage()
        assert line.created <= arrival.at
        assert {m["digest"] for m in arrival.json["manifests"]} == digests  # type: ignore[index]
