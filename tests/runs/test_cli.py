"""The command line, end to end: CliRunner against the emulator on loopback, SQLite in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from janitor.cli import cli
from janitor.emulator.server import RunningEmulator
from tests.runs.conftest import PR_1, TOKEN, UNTAGGED_PLAN, USER, write_policy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(hub: RunningEmulator, tmp_path: Path) -> dict[str, str]:
    return {
        "JANITOR_HUB_URL": hub.url,
        "JANITOR_HUB_USERNAME": USER,
        "JANITOR_HUB_TOKEN": TOKEN,
        "JANITOR_DATA_DIR": str(tmp_path / "data"),
        "JANITOR_POLICIES": str(tmp_path / "policies"),
        "JANITOR_DELETE_BACKEND": "delete-images",
    }


def janitor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def real_deletes(hub: RunningEmulator) -> int:
    return sum(
        1
        for e in hub.log.entries()
        if e.path.endswith("delete-images") and isinstance(e.json, dict) and not e.json["dry_run"]
    )


def test_run_dry_run_json_then_runs_list_and_show(
    env: dict[str, str], hub: RunningEmulator, tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies", mode="delete")
    result = janitor(env, "run", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)
    assert run["status"] == "succeeded" and run["dry_run"] is True
    assert run["metrics"]["would_delete"] == len(UNTAGGED_PLAN)
    assert Path(run["report"]).is_file()
    assert real_deletes(hub) == 0

    listed = json.loads(janitor(env, "runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    shown = json.loads(janitor(env, "runs", "show", str(run["run_id"]), "--json").stdout)
    by_digest = {d["digest"]: d for d in shown["decisions"]}
    assert by_digest[PR_1]["outcome"] == "skipped_warning"
    assert {d for d, v in by_digest.items() if v["outcome"] == "would_delete"} == UNTAGGED_PLAN
    assert all(v["reasons"] for v in by_digest.values())
    text = janitor(env, "runs", "show", str(run["run_id"])).stdout
    assert "would_delete" in text and "skipped_warning" in text


def test_two_keys_mode_delete_without_apply_is_a_dry_run(
    env: dict[str, str], hub: RunningEmulator, tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies", mode="delete")
    result = janitor(env, "run")
    assert result.exit_code == 0
    assert "janitor run --apply" in result.stderr
    assert real_deletes(hub) == 0

    result = janitor(env, "run", "--apply")
    assert result.exit_code == 0, result.output
    assert "delete run" in result.stdout and f"{len(UNTAGGED_PLAN)} deleted" in result.stdout
    assert real_deletes(hub) > 0


def test_apply_on_a_dry_run_policy_stays_a_dry_run(
    env: dict[str, str], hub: RunningEmulator, tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies", mode="dry-run")
    result = janitor(env, "run", "--apply")
    assert result.exit_code == 0
    assert "mode: dry-run" in result.stderr
    assert real_deletes(hub) == 0


def test_a_refused_run_exits_1_with_the_numbers(
    env: dict[str, str], hub: RunningEmulator, tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies", mode="delete", limits="{max_deletes: 2}")
    result = janitor(env, "run", "--apply")
    assert result.exit_code == 1
    assert "max_deletes" in result.stdout
    assert real_deletes(hub) == 0


def test_bad_input_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "broken.yaml").write_text(
        "namespace: acme\nselect:\n  - last_pushed: {older_than: 3x}\n"
    )
    result = janitor(env, "run", "--dry-run")
    assert result.exit_code == 2
    assert "broken.yaml" in result.stderr and "older_than" in result.stderr
    assert janitor(env, "run", "--dry-run", "--apply").exit_code == 2
    assert janitor(env, "run", "--policy", "nope").exit_code == 2
    assert janitor(env, "runs", "show", "999").exit_code == 2


def test_plan_is_read_only_and_explains_every_verdict(
    env: dict[str, str], hub: RunningEmulator, tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies")
    result = janitor(env, "plan", "--json")
    assert result.exit_code == 0, result.output
    (plan,) = json.loads(result.stdout)
    images = [i for r in plan["repositories"] for i in r["images"]]
    assert len(images) == 9
    for image in images:
        assert {
            "repository",
            "digest",
            "tags",
            "last_pushed",
            "last_pulled",
            "verdict",
            "reasons",
        } <= set(image)
        assert image["verdict"] in ("keep", "delete") and image["reasons"]
    assert all(
        e.method == "GET" or "auth" in e.path or "login" in e.path for e in hub.log.entries()
    )
    table = janitor(env, "plan").stdout
    assert "web" in table and "delete" in table

    later = json.loads(janitor(env, "plan", "--json", "--as-of", "2099-01-01").stdout)[0]
    now_deletes = sum(i["verdict"] == "delete" for i in images)
    later_deletes = sum(
        i["verdict"] == "delete" for r in later["repositories"] for i in r["images"]
    )
    assert later_deletes > now_deletes
    assert janitor(env, "plan", "--as-of", "someday").exit_code == 2


def test_snapshot_then_plan_offline_gives_the_same_verdicts(
    env: dict[str, str], tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies")
    snap = tmp_path / "acme.yaml"
    assert janitor(env, "snapshot", "acme", "-o", str(snap)).exit_code == 0
    online = json.loads(janitor(env, "plan", "--json", "--as-of", "2026-12-01").stdout)[0]
    offline_env = env | {"JANITOR_HUB_URL": "http://127.0.0.1:9"}  # nothing listens there
    offline = janitor(
        offline_env, "plan", "--json", "--as-of", "2026-12-01", "--snapshot", str(snap)
    )
    assert offline.exit_code == 0, offline.output

    def verdicts(plan: dict) -> dict[str, str]:
        return {i["digest"]: i["verdict"] for r in plan["repositories"] for i in r["images"]}

    assert verdicts(json.loads(offline.stdout)[0]) == verdicts(online)


def test_policies_check_examples_and_broken(env: dict[str, str]) -> None:
    ok = janitor(env, "policies", "check", str(ROOT / "policies"))
    assert ok.exit_code == 0, ok.output
    broken = janitor(env, "policies", "check", str(ROOT / "tests" / "policy" / "broken"))
    assert broken.exit_code == 2
    lines = [line for line in broken.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) >= 5
    assert all(".yaml" in line or ".yml" in line for line in lines)


def test_db_upgrade(env: dict[str, str]) -> None:
    result = janitor(env, "db", "upgrade")
    assert result.exit_code == 0 and "revision" in result.stdout


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_every_command_has_help(name: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"`janitor {name}` has no help text"


def test_a_run_never_overlaps_another_run_of_the_same_policy(
    env: dict[str, str], hub: RunningEmulator, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from janitor.engine import lease_name
    from janitor.store import Store

    write_policy(tmp_path / "policies", mode="delete")
    assert janitor(env, "db", "upgrade").exit_code == 0
    with Store(f"sqlite:///{tmp_path / 'data' / 'janitor.db'}") as store:
        assert store.try_acquire_lease(
            lease_name("running", "cleanup"),
            "other-host:1",
            ttl=timedelta(minutes=5),
            now=datetime.now(UTC),
        )
    result = janitor(env, "run", "--apply")
    assert result.exit_code == 1
    assert "being run right now" in result.stderr
    assert real_deletes(hub) == 0
    assert json.loads(janitor(env, "runs", "list", "--json").stdout) == []
